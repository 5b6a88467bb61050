"""Engine throughput: mnemos' Engine layer vs raw vLLM ``AsyncLLM.generate`` calls, side by side.

Both paths drive the same loaded engine, alternating repeat by repeat and keeping
each one's best time, so noise from other processes hits them alike; the figure that matters is the layer's overhead ratio
(target: under 5% at batch 16).

    python benchmarks/engine.py [--batches 1 4 16] [--max-tokens 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
# Sibling scripts (benchmarks/kvcache.py, ...) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

PROMPTS = [
    "Explain why the sky is blue.", "Write a short poem about rivers.", "List three uses of copper.",
    "Describe how a bicycle works.", "What makes bread rise?", "Summarise the water cycle.",
    "Give advice for a first job interview.", "Why do cats purr?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None, help="named model or checkpoint dir (default: the settings' default)")
    ap.add_argument("--small", action="store_true", help="CI size: batches 1 4, 16 tokens, 1 repeat")
    args = ap.parse_args()
    if args.small:
        args.batches, args.max_tokens, args.repeats = [1, 4], 16, 1

    from agent.config import Settings
    from agent.engine import Engine
    from agent.llm import ChatMessage, GenParams

    engine = Engine.from_settings(Settings(model=args.model) if args.model else Settings())
    params = GenParams(max_tokens=args.max_tokens)
    raw_params = engine.sampling_params(params)

    def layer(prompts: list[str]) -> int:
        return sum(c.generated_tokens for c in engine.generate(prompts, params))

    async def raw_all(prompts: list[str]) -> int:
        async def one(prompt: str) -> int:
            final = None
            async for final in engine.async_llm.generate(prompt, raw_params, f"raw-{time.monotonic_ns()}-{id(prompt)}"):
                pass
            return len(final.outputs[0].token_ids)

        return sum(await asyncio.gather(*(one(p) for p in prompts)))

    def raw(prompts: list[str]) -> int:
        return engine.run_coroutine(raw_all(prompts))

    layer(["warm up"])
    print(f"model={engine.model_dir.name} device={engine.device} max_tokens={args.max_tokens} repeats={args.repeats}")
    print(f"{'batch':>5} | {'raw prompts/s':>13} {'raw tok/s':>9} | {'layer prompts/s':>15} {'layer tok/s':>11} | {'overhead':>8}")
    for b in args.batches:
        prompts = [engine.render_chat([ChatMessage(role="user", content=PROMPTS[i % len(PROMPTS)] + f" ({i})")])
                   for i in range(b)]
        times: dict[str, list[float]] = {"raw": [], "layer": []}
        tokens: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, fn in (("raw", raw), ("layer", layer)):
                start = time.perf_counter()
                tokens[name] = fn(prompts)
                times[name].append(time.perf_counter() - start)
        t_raw, t_layer = min(times["raw"]), min(times["layer"])
        print(f"{b:>5} | {b / t_raw:>13.2f} {tokens['raw'] / t_raw:>9.1f} | {b / t_layer:>15.2f} "
              f"{tokens['layer'] / t_layer:>11.1f} | {100 * (t_layer / t_raw - 1):>7.1f}%")
    engine.close()


if __name__ == "__main__":
    main()
