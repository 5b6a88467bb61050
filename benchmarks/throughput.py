"""Throughput: the agent (memory off) vs raw vLLM on the same GSM8K problems, side by side, and CPU knobs.

One engine (with mnemos' own CPU choice, ``agent.engine.cpu_plan``) serves two phases: the agent on
``mnemos solve``'s path, recording each problem's first prompt; then raw vLLM, those prompts submitted to
``AsyncLLM.generate`` at once with the agent's per-attempt budget and no stop strings. The prefix cache is
reset between them. Then each CPU knob reruns the raw phase on the same prompts in a fresh process (vLLM
reads its CPU settings when it spawns its engine): vLLM's defaults, and one change from them per knob.
Per phase: generated tok/s, problems/min, p50/p95 latency, prefix-cache hit rate, score. Key figures:
``raw_default_tok_s``, ``raw_tuned_tok_s``, ``speedup_vs_default``, ``ratio`` (agent/tuned raw), written
to ``docs/results/throughput.json``.

    python benchmarks/throughput.py [--problems 40] [--model qwen2.5-coder-1.5b] [--concurrency N] [--knobs all]
    python benchmarks/throughput.py --small      # CI size: SmolLM2-135M, 4 problems, short budgets, default knob only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
# Sibling scripts (benchmarks/retrieval.py, ...) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parents[1]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl"
OUT = ROOT / "docs" / "results" / "throughput.json"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def phase_figures(name: str, wall: float, generated: int, latencies: list[float], score: float, stats: Any) -> dict:
    return {
        "phase": name,
        "wall_s": round(wall, 2),
        "generated_tokens": generated,
        "tok_s": round(generated / wall, 2) if wall > 0 else 0.0,
        "problems_per_min": round(60 * len(latencies) / wall, 2) if wall > 0 else 0.0,
        "latency_p50_s": round(statistics.median(latencies), 2),
        "latency_p95_s": round(percentile(latencies, 95), 2),
        "score": round(score, 3),
        "prefix_cache_hit_rate": round(stats.prefix_hit_rate, 3),
        "prefix_cache_queries": stats.prefix_queries,
        "prefix_cache_hits": stats.prefix_hits,
    }


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - no torch or no CUDA: a CPU machine
        pass
    return info


class FirstPrompts:
    """The engine as the agent sees it, keeping the prompt of each problem's first request (its first segment).

    Recording what the controller really sent keeps the raw phase on the agent's exact prompts, however the
    controller's prompt wording changes.
    """

    def __init__(self, engine: Any, problems: list):
        self._engine, self._problems = engine, problems
        self.prompts: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _record(self, prompts: list[str]) -> None:
        for prompt in prompts:
            for p in self._problems:
                if p.id not in self.prompts and p.prompt in prompt:
                    self.prompts[p.id] = prompt

    async def agenerate(self, prompts: list[str], params: Any = None) -> list:
        self._record(prompts)
        return await self._engine.agenerate(prompts, params)

    def generate(self, prompts: list[str], params: Any = None) -> list:
        self._record(prompts)
        return self._engine.generate(prompts, params)


def run_raw(engine: Any, problems: list, prompts: list[str], max_tokens: int, time_cap: float | None = None) -> dict:
    """Every prompt submitted to vLLM's AsyncLLM at once, no mnemos layer in between, no stop strings.

    With ``time_cap`` the requests still running after that many seconds are aborted: tok/s is then the tokens
    the engine generated in the window (its own step counters), and unfinished problems score 0. A slow setting
    (e.g. bf16 emulated on an AVX2 CPU) is measured without costing the whole run; failed requests (an engine
    that died mid-phase) are counted in ``error``.
    """
    from agent.llm import GenParams
    from tools.domains import get_domain

    sampling = engine.sampling_params(GenParams(max_tokens=max_tokens))

    async def batch() -> list[tuple[str, int, float] | None]:
        start = time.perf_counter()

        async def one(i: int, prompt: str) -> tuple[str, int, float]:
            final = None
            async for final in engine.async_llm.generate(prompt, sampling, f"raw-{i}-{time.monotonic_ns()}"):
                pass
            return final.outputs[0].text, len(final.outputs[0].token_ids), time.perf_counter() - start

        tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
        await asyncio.wait(tasks, timeout=time_cap)
        for t in tasks:
            t.cancel()  # aborts the request in the engine
        await asyncio.gather(*tasks, return_exceptions=True)
        errors.extend(repr(t.exception()) for t in tasks if not t.cancelled() and t.exception() is not None)
        return [t.result() if t.done() and not t.cancelled() and t.exception() is None else None for t in tasks]

    errors: list[str] = []
    before = engine.stats()
    t0 = time.perf_counter()
    outs = engine.run_coroutine(batch())
    wall = time.perf_counter() - t0
    stats = engine.stats() - before
    math = get_domain("math")
    score = statistics.mean(math.score(p, [o[0]]) if o else 0.0 for p, o in zip(problems, outs, strict=True))
    done = [o for o in outs if o]
    figures = phase_figures("raw", wall, stats.generated_tokens, [s for _, _, s in done] or [wall], score, stats)
    figures["finished"] = len(done)
    if len(done) < len(outs):
        figures["capped_after_s"] = time_cap
    figures.update({"error": f"{len(errors)} requests failed, e.g. {errors[0][:300]}"} if errors else {})
    return figures


def run_agent(engine: Any, problems: list, settings: Any, concurrency: int | None) -> tuple[dict, int, list[str]]:
    """The controller over every problem (memory off), as ``mnemos solve`` runs it; also its first-segment prompts."""
    from agent.batch.concurrency import planned_concurrency
    from agent.batch.session import solve_set
    from memory.db import Database
    from memory.episodes import EpisodeStore

    plan = planned_concurrency(settings, engine)
    used = concurrency or plan.concurrency
    print(f"agent: {plan.describe()}" + (f"; using --concurrency {used}" if concurrency else ""), file=sys.stderr)
    recorder = FirstPrompts(engine, problems)
    db = Database(settings.db_url)

    class Episodes:
        episodes = EpisodeStore(db)

        def close(self) -> None:
            pass

    try:
        before = engine.stats()
        summary = solve_set(problems, settings, "throughput", concurrency=used, progress=False, llm=recorder,
                            memory=Episodes())
        stats = engine.stats() - before
        latencies = [e.seconds for e in Episodes.episodes.list(run_id="throughput", limit=len(problems) + 1)]
    finally:
        db.dispose()
    if summary.errors:
        print(f"warning: {summary.errors} agent problems ended in errors", file=sys.stderr)
    missing = [p.id for p in problems if p.id not in recorder.prompts]
    if missing:
        raise SystemExit(f"the agent sent no request for {', '.join(missing)}; cannot build the raw phase's prompts")
    figures = phase_figures("agent", summary.wall_seconds, summary.generated_tokens, latencies, summary.score, stats)
    return figures, used, [recorder.prompts[p.id] for p in problems]


RESERVED = "VLLM_CPU_NUM_OF_RESERVED_CPU"
BIND = "VLLM_CPU_OMP_THREADS_BIND"

#: Each knob is one change from vLLM's CPU defaults: environment, libraries to preload, settings, engine arguments.
KNOBS: dict[str, dict[str, Any]] = {
    "vllm_default": {},
    "reserved_0": {"env": {RESERVED: "0"}},
    "reserved_0+tcmalloc": {"env": {RESERVED: "0"}, "preload": ["tcmalloc"]},
    "reserved_0+iomp": {"env": {RESERVED: "0"}, "preload": ["iomp"]},
    "reserved_0+nobind": {"env": {RESERVED: "0", BIND: "nobind"}},
    "reserved_0+batched_1024": {"env": {RESERVED: "0"}, "engine": {"max_num_batched_tokens": 1024}},
    "reserved_0+batched_8192": {"env": {RESERVED: "0"}, "engine": {"max_num_batched_tokens": 8192}},
    "reserved_0+compiled": {"env": {RESERVED: "0"}, "settings": {"enforce_eager": False}},
    "reserved_0+kv_fp8": {"env": {RESERVED: "0"}, "settings": {"kv_policy": "fp8"}},
    # On CPUs without native bf16 (agent.engine.cpu_plan.native_bf16) the engine loads the model in float32;
    # these knobs are measured from that base.
    "float32": {"settings": {"dtype": "float32"}},
    "float32+reserved_0": {"env": {RESERVED: "0"}, "settings": {"dtype": "float32"}},
    "float32+reserved_0+tcmalloc": {"env": {RESERVED: "0"}, "preload": ["tcmalloc"], "settings": {"dtype": "float32"}},
    "float32+reserved_0+nobind": {"env": {RESERVED: "0", BIND: "nobind"}, "settings": {"dtype": "float32"}},
}


def knob_engine_args(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings updates and ``Engine.from_settings`` extras for one knob, on top of vLLM's CPU defaults."""
    from agent.engine.cpu_plan import CpuSettings, find_preload

    knob = KNOBS[name]
    env = {BIND: "auto", **knob.get("env", {})}
    libs = [path for lib in knob.get("preload", []) if (path := find_preload(lib))]
    if len(libs) != len(knob.get("preload", [])):
        raise SystemExit(f"knob {name}: {knob['preload']} not installed (scripts/install.sh installs them)")
    if libs:
        env["LD_PRELOAD"] = ":".join(libs)
    settings = {"cpu": CpuSettings(tune=False), **knob.get("settings", {})}
    return settings, {"env": env, **knob.get("engine", {})}


def run_knob(args: argparse.Namespace, problems: list, settings: Any) -> None:
    """Child mode: the raw phase under one knob, on the prompts the parent recorded; figures to ``--knob-out``."""
    from agent.engine import Engine
    from agent.llm import GenParams

    updates, extra = knob_engine_args(args.knob)
    prompts = json.loads(args.prompts.read_text())
    engine = Engine.from_settings(settings.model_copy(update=updates), **extra)
    try:
        engine.generate(["warm up"], GenParams(max_tokens=4))
        figures = run_raw(engine, problems, prompts, settings.budgets.tokens, args.raw_time_cap)
    finally:
        engine.close()
    args.knob_out.write_text(json.dumps(figures))


def knob_phases(names: list[str], prompts: list[str], common: list[str]) -> dict[str, dict]:
    """Each knob's raw phase in a fresh process, one after the other (one engine at a time)."""
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mnemos-knobs-") as tmp:
        prompts_file = Path(tmp) / "prompts.json"
        prompts_file.write_text(json.dumps(prompts))
        for name in names:
            out = Path(tmp) / f"{len(results)}.json"
            print(f"knob {name}: starting its engine", file=sys.stderr)
            proc = subprocess.run([sys.executable, __file__, *common, "--knob", name, "--prompts", str(prompts_file),
                                   "--knob-out", str(out)], check=False)
            if proc.returncode != 0 or not out.is_file():
                results[name] = {"error": f"exit status {proc.returncode}"}
                print(f"knob {name}: failed (exit status {proc.returncode})", file=sys.stderr)
                continue
            results[name] = json.loads(out.read_text())
            print(f"knob {name}: {results[name]['tok_s']} tok/s, score {results[name]['score']}", file=sys.stderr)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--model", default=None, help="named model or checkpoint dir (default: the settings' default)")
    ap.add_argument("--data", type=Path, default=GSM8K, help="GSM8K-shaped JSONL (default ../shared/data/gsm8k_train.jsonl)")
    ap.add_argument("--concurrency", type=int, default=None, help="agent problems in flight (default: KV planner)")
    ap.add_argument("--max-num-seqs", type=int, default=None, help="engine max_num_seqs (default: settings)")
    ap.add_argument("--attempt-tokens", type=int, default=None, help="agent token budget per attempt = raw max_tokens")
    ap.add_argument("--segment-tokens", type=int, default=None)
    ap.add_argument("--key", default=None, help="store the figures under this key of the JSON file "
                    "(e.g. gpu_concurrency128) instead of replacing its top level")
    ap.add_argument("--out", type=Path, default=None, help=f"JSON output (default {OUT.relative_to(ROOT)}; "
                    "--small: docs/results/throughput_small.json)")
    ap.add_argument("--small", action="store_true", help="CI size: smollm2-135m, 4 problems, 96-token attempts")
    ap.add_argument("--knobs", default=None, help="comma-separated CPU knobs to time on the raw phase, or all, or "
                    f"none (default: all; --small: vllm_default). Known: {', '.join(KNOBS)}")
    ap.add_argument("--raw-time-cap", type=float, default=None, help="abort raw phases after this many seconds and "
                    "report the tokens generated in that window (unfinished problems score 0)")
    ap.add_argument("--knob", choices=list(KNOBS), help=argparse.SUPPRESS)
    ap.add_argument("--prompts", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--knob-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.small:
        args.problems = min(args.problems, 4)
        args.model = args.model or "smollm2-135m"
        args.attempt_tokens = args.attempt_tokens or 96
        args.segment_tokens = args.segment_tokens or 48
    out = args.out or (OUT.with_name("throughput_small.json") if args.small else OUT)
    knob_spec = args.knobs or ("vllm_default" if args.small else "all")
    knobs = [] if knob_spec == "none" else list(KNOBS) if knob_spec == "all" else knob_spec.split(",")
    if unknown := [k for k in knobs if k not in KNOBS]:
        ap.error(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    if args.problems < 1:
        ap.error("--problems must be at least 1")
    if not args.data.is_file():
        ap.error(f"no problem file at {args.data}")

    import vllm

    from agent.config import Settings
    from agent.engine import Engine
    from agent.llm import GenParams
    from tools.tasks.mathx import load_jsonl

    problems = load_jsonl(args.data, args.problems)
    home = tempfile.mkdtemp(prefix="mnemos-throughput-")
    overrides: dict[str, Any] = {"home": home, "memory_mode": "off"}
    if args.model:
        overrides["model"] = args.model
    if args.max_num_seqs:
        overrides["max_num_seqs"] = args.max_num_seqs
    settings = Settings(**overrides)
    budgets = {k: v for k, v in (("tokens", args.attempt_tokens), ("segment_tokens", args.segment_tokens)) if v}
    if budgets:
        settings = settings.model_copy(update={"budgets": settings.budgets.model_copy(update=budgets)})

    if args.knob:
        run_knob(args, problems, settings)
        return

    engine = Engine.from_settings(settings)
    cpu_plan = engine.cpu_plan.model_dump() if engine.cpu_plan else None
    try:
        engine.generate(["warm up"], GenParams(max_tokens=4))
        agent, concurrency, prompts = run_agent(engine, problems, settings, args.concurrency)
        engine.run_coroutine(engine.areset_prefix_cache())
        raw = run_raw(engine, problems, prompts, settings.budgets.tokens, args.raw_time_cap)
    finally:
        engine.close()
    common = ["--problems", str(args.problems), "--data", str(args.data), "--model", settings.model,
              "--attempt-tokens", str(settings.budgets.tokens), "--segment-tokens", str(settings.budgets.segment_tokens),
              "--max-num-seqs", str(settings.max_num_seqs)]
    if args.raw_time_cap:
        common += ["--raw-time-cap", str(args.raw_time_cap)]
    knob_figures = knob_phases(knobs, prompts, common)

    ratio = agent["tok_s"] / raw["tok_s"] if raw["tok_s"] else 0.0
    default_tok_s = knob_figures.get("vllm_default", {}).get("tok_s")
    result = {
        "raw_default_tok_s": default_tok_s,
        "raw_tuned_tok_s": raw["tok_s"],
        "speedup_vs_default": round(raw["tok_s"] / default_tok_s, 3) if default_tok_s else None,
        "raw_tok_s": raw["tok_s"],
        "agent_tok_s": agent["tok_s"],
        "ratio": round(ratio, 3),
        "cpu_plan": cpu_plan,
        "raw_time_cap_s": args.raw_time_cap,
        "knobs": {name: {"tok_s": f.get("tok_s"), "score": f.get("score"), "wall_s": f.get("wall_s"),
                         "finished": f.get("finished"),
                         "speedup_vs_default": round(f["tok_s"] / default_tok_s, 3)
                         if default_tok_s and f.get("tok_s") else None, **({"error": f["error"]} if "error" in f else {}),
                         "setting": KNOBS[name]} for name, f in knob_figures.items()},
        "problems": len(problems),
        "model": settings.model,
        "machine": machine(),
        "device": engine.device,
        "concurrency": concurrency,
        "max_num_seqs": settings.max_num_seqs,
        "attempt_tokens": settings.budgets.tokens,
        "segment_tokens": settings.budgets.segment_tokens,
        "kv_cache_gib": settings.kv_cache_gib,
        "vllm": vllm.__version__,
        "data": args.data.name,
        "small": args.small,
        "date": time.strftime("%Y-%m-%d"),
        "raw": raw,
        "agent": agent,
    }

    rows = [("generated tok/s", "tok_s"), ("problems/min", "problems_per_min"), ("latency p50 s", "latency_p50_s"),
            ("latency p95 s", "latency_p95_s"), ("prefix-cache hit rate", "prefix_cache_hit_rate"), ("score", "score"),
            ("wall s", "wall_s"), ("generated tokens", "generated_tokens")]
    print(f"\n{len(problems)} GSM8K problems, model {settings.model}, {engine.device}, agent concurrency {concurrency}")
    print(f"{'':<22} {'raw vLLM':>10} {'agent':>10}")
    for label, key in rows:
        print(f"{label:<22} {raw[key]:>10} {agent[key]:>10}")
    print(f"ratio agent/raw (generated tok/s): {ratio:.3f}")
    for name, fig in result["knobs"].items():
        print(f"raw, knob {name:<26} {fig.get('tok_s')!s:>8} tok/s  x{fig.get('speedup_vs_default')} vs vLLM default")
    if result["speedup_vs_default"]:
        print(f"engine's CPU choice vs vLLM defaults (raw tok/s): x{result['speedup_vs_default']}")

    out.parent.mkdir(parents=True, exist_ok=True)
    if args.key:
        existing = json.loads(out.read_text()) if out.is_file() else {}
        existing[args.key] = result
        result = existing
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":  # vLLM starts its engine process with spawn
    main()
