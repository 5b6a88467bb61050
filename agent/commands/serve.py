"""``mnemos serve MODEL [vllm args]``: vLLM's OpenAI-compatible server with exactly the flags mnemos needs.

The server is ``vllm serve`` itself; what this adds is what mnemos' in-process
engine would have chosen (context, KV space, CPU dtype and cores, prefix caching,
seed) and the verbatim-copy logits processor, so a client with ``--engine-url``
loses nothing. Anything after the model is passed to ``vllm serve`` unchanged and
wins over these choices (``--tensor-parallel-size 4``, ``--api-key``, ...).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start vLLM's OpenAI-compatible server for MODEL, ready for --engine-url",
        description="Start `vllm serve` on MODEL (a named model or a checkpoint directory; default: --model) with "
        "mnemos' flags: its context and KV plan, prefix caching, seed, and the verbatim-copy logits processor. "
        "Prints the URL to pass as --engine-url (or MNEMOS_ENGINE_URL) once the server answers. Arguments after "
        "the model go to `vllm serve` unchanged, e.g. `mnemos serve qwen2.5-coder-1.5b --tensor-parallel-size 2`. "
        "MNEMOS_API_KEY, if set, becomes the server's API key.")
    p.add_argument("serve_model", nargs="?", metavar="MODEL", help="named model or checkpoint directory "
                   "(default: the --model setting)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for "
                   "other hosts)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--ready-timeout", type=float, default=900.0, help="seconds to wait for the server to answer "
                   "before giving up (default 900)")
    p.add_argument("--print-command", action="store_true", help="print the command and environment, start nothing")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER, help="passed to `vllm serve` as they are")
    p.set_defaults(func=run)


def serve_command(settings: Settings, model: str, host: str, port: int,
                  extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``vllm serve`` argv and the environment it needs, as the in-process engine would start."""
    from agent.engine import VERBATIM_PROCESSOR, detect_device, kv_plugin_env
    from agent.engine.cpu_plan import plan_cpu
    from agent.engine.plan import engine_start

    model_dir, settings, max_len, kv_gib = engine_start(settings, model)
    device = detect_device(settings.device)
    env = dict(kv_plugin_env(settings))
    env["VLLM_MAX_STOP_STRINGS"] = "64"  # the controller stops on every tool closer and forged block opener (8)
    if device == "cpu":
        if settings.cpu.tune:
            env.update(plan_cpu(settings.cpu).env())
        env["VLLM_CPU_KVCACHE_SPACE"] = str(max(1, round(kv_gib)))
        env["VLLM_TARGET_DEVICE"] = "cpu"
    if settings.api_key is not None:
        env["VLLM_API_KEY"] = settings.api_key.get_secret_value()  # the environment, not argv: `ps` shows argv
    argv = [sys.executable, "-m", "agent.engine.vllm_cli", "serve", str(model_dir),
            "--served-model-name", model, "--host", host, "--port", str(port),
            "--logits-processors", VERBATIM_PROCESSOR, "--enable-prefix-caching", "--enable-prompt-tokens-details",
            "--max-model-len", str(max_len), "--dtype", settings.dtype, "--seed", str(settings.seed),
            "--max-num-seqs", str(settings.max_num_seqs)]
    if settings.enforce_eager:
        argv.append("--enforce-eager")
    if settings.kv_policy == "fp8":
        argv += ["--kv-cache-dtype", "fp8"]
    if device == "cuda":
        argv += ["--gpu-memory-utilization", str(settings.gpu_memory_utilization)]
    return argv + [a for a in extra if a != "--"], env


def _ready(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(1.0)
    return False


#: mnemos serve's own options, taken out of the arguments after MODEL (argparse hands all of those to vLLM).
_OWN = {"--host": "host", "--port": "port", "--ready-timeout": "ready_timeout"}


def _own_options(args: argparse.Namespace) -> None:
    """Move ``--host``/``--port``/``--ready-timeout``/``--print-command`` written after MODEL back to mnemos."""
    rest, items = [], iter(args.vllm_args)
    for item in items:
        name, eq, value = item.partition("=")
        if name in _OWN:
            raw = value if eq else next(items, "")
            kind = type(getattr(args, _OWN[name]))
            setattr(args, _OWN[name], kind(raw))
        elif item == "--print-command":
            args.print_command = True
        else:
            rest.append(item)
    args.vllm_args = rest


def run(args: argparse.Namespace, settings: Settings) -> int:
    _own_options(args)
    model = args.serve_model or settings.model
    argv, env = serve_command(settings, model, args.host, args.port, list(args.vllm_args))
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown_host}:{args.port}/v1"
    if args.print_command:
        shown = {k: ("***" if k == "VLLM_API_KEY" else v) for k, v in env.items()}
        print(" ".join(f"{k}={v}" for k, v in shown.items()), " ".join(argv))
        return 0
    print(f"starting vllm serve for {model} ({Path(argv[4])}) on {args.host}:{args.port} ...", file=sys.stderr)
    proc = subprocess.Popen(argv, env={**os.environ, **env})

    def stop(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        if _ready(url.removesuffix("/v1") + "/health", proc, args.ready_timeout):
            print(f"serving {model} at {url}  (use: mnemos --engine-url {url} ...  or MNEMOS_ENGINE_URL={url})",
                  flush=True)
        elif proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
            print(f"mnemos: error: vllm serve did not answer at {url} within {args.ready_timeout:g} s",
                  file=sys.stderr)
            return 1
        else:
            code = proc.wait()
            print(f"mnemos: error: vllm serve exited with code {code} before answering (its messages are above)",
                  file=sys.stderr)
            return code or 1
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return 130
