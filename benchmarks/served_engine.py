"""The same GSM8K problems on the in-process engine and on `mnemos serve`, one after the other, on this machine.

Both runs solve the problems through the controller with memory off, greedy, the
same concurrency, after the same two warm-up problems. Published: whether every
answer is identical, and generated tokens per second served / in-process.

    python benchmarks/served_engine.py [--problems 16] [--model qwen2.5-coder-1.5b] [--port 8765]

Writes docs/results/served_engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "served_engine.json"
DATA = ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl"
WARMUP = 2


def _run(settings, problems, llm, run_id: str) -> dict:  # noqa: ANN001 - benchmark glue
    from agent.batch.session import solve_set
    from memory.db import Database
    from memory.episodes import EpisodeStore

    db = Database(settings.db_url)

    class Holder:
        episodes = EpisodeStore(db)

        def close(self) -> None:
            pass

    solve_set(problems[:WARMUP], settings, run_id + "-warmup", concurrency=WARMUP, progress=False, llm=llm,
              memory=Holder())
    timed = problems[WARMUP:]
    start = time.perf_counter()
    summary = solve_set(timed, settings, run_id, concurrency=len(timed), progress=False, llm=llm, memory=Holder())
    wall = time.perf_counter() - start
    answers = {p.id: Holder.episodes.find(run_id, p.id).answer for p in timed}
    return {"solved": summary.solved, "errors": summary.errors, "generated_tokens": summary.generated_tokens,
            "wall_s": round(wall, 1), "tok_s": round(summary.generated_tokens / wall, 2), "answers": answers}


def _serve(settings_args: list[str], model: str, port: int, home: str) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", *settings_args, "serve", model, "--port", str(port)],
                            env={**os.environ, "MNEMOS_HOME": home}, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mnemos serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("mnemos serve did not answer in 900 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from agent.config import Settings
    from agent.engine import Engine
    from agent.engine.served import ServedEngine
    from agent.evaluation.machine import this_machine
    from tools.tasks.mathx import load_jsonl

    problems = load_jsonl(DATA)[-(args.problems + WARMUP):]
    home = tempfile.mkdtemp(prefix="mnemos-served-bench-")
    common = {"home": home, "model": args.model, "memory_mode": "off", "max_model_len": args.max_model_len,
              "budgets": {"retries": 0, "tokens": 512}}
    settings = Settings(**common)
    engine = Engine.from_settings(settings)
    try:
        inproc = _run(settings, problems, engine, "inproc")
    finally:
        engine.close()
    print(f"in-process: {inproc['tok_s']} tok/s, {inproc['solved']} solved", file=sys.stderr)

    flags = ["--model", args.model, "--max-model-len", str(args.max_model_len)]
    server = _serve(flags, args.model, args.port, home)
    try:
        served_settings = Settings(**common, engine_url=f"http://127.0.0.1:{args.port}/v1")
        client = ServedEngine.from_settings(served_settings)
        try:
            served = _run(served_settings, problems, client, "served")
            verbatim = client.infos[0].verbatim
        finally:
            client.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
    print(f"served: {served['tok_s']} tok/s, {served['solved']} solved", file=sys.stderr)

    differing = sorted(k for k in inproc["answers"] if inproc["answers"][k] != served["answers"].get(k))
    result = {
        "what": "the same GSM8K problems through the controller (memory off, greedy, all in flight at once), "
                "in-process AsyncLLM vs `mnemos serve` over HTTP, one after the other on this machine",
        "model": args.model, "problems": len(problems) - WARMUP, "warmup_problems": WARMUP,
        "source": f"last {len(problems)} records of gsm8k_train.jsonl",
        "machine": this_machine().model_dump(mode="json"),
        "in_process": inproc, "served": served, "verbatim_processor_loaded": verbatim,
        "identical_answers": not differing, "differing": differing,
        "ratio": round(served["tok_s"] / inproc["tok_s"], 3),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("identical_answers", "ratio", "differing")}))


if __name__ == "__main__":
    main()
