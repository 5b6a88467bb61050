"""Compressed KV caches against the full cache on the embedded model, side by side.

For each fixed prompt the full cache first decodes ``--new-tokens`` greedy tokens (EOS ignored, so
every run is the same length). Every policy then replays that continuation teacher-forced at
10/25/50% of the sequence length as its token budget, which yields in one pass:

* agreement: the share of the continuation before the policy's own greedy choice first differs
  (identical to the free-running greedy divergence point, since inputs agree up to there);
* ppl: the perplexity of the full-cache continuation under the compressed cache (full = its own);
* tok/s of the decode loop and the peak KV bytes the cache held.

Quantised caches (kivi*) cannot evict: at a budget they stop when its memory is used up, and the
table says where ("stop@N"); their unbudgeted rows show pure quantisation quality.

    python benchmarks/kvcache.py --small        # CI-sized (128 new tokens)
    python benchmarks/kvcache.py                # full (2048 new tokens; slow on CPU)

With ``--math FILE.jsonl`` it measures task accuracy instead: every policy decodes freely (greedy, to
EOS or ``--new-tokens``) on each problem at each budget, and the boxed answer is graded with
math-verify. On a GPU this is the MATH-500 run with a distilled reasoning model:

    python benchmarks/kvcache.py --math math500.jsonl --model /models/R1-Distill-Qwen-1.5B \
        --device cuda --new-tokens 8192 --limit 100
    python benchmarks/kvcache.py --math examples/math_sample.jsonl --new-tokens 256   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch

from kvcache.hf.base import BudgetCache
from kvcache.errors import KVBudgetExceeded
from kvcache.hf.policies import make_cache

PROMPTS = [
    ("Solve step by step and check your work twice: a train leaves at 9:40 and travels 312 km at 78 km/h. "
    "When does it arrive? Then verify the answer by a second method."),
    "Write a detailed, numbered explanation of how a hash map handles collisions, then restate the key points.",
]
EVICTING = ("sink_window", "snapkv", "rkv")
QUANTISED = ("kivi8", "kivi4")


@dataclass
class Row:
    prompt: int
    policy: str
    budget: str
    tokens: int
    agreement: float
    ppl: float
    tok_s: float
    peak_kv_bytes: int
    note: str = ""


@torch.no_grad()
def decode(model: torch.nn.Module, prompt: torch.Tensor, cache: BudgetCache, steps: int,
           forced: list[int] | None = None, eos: int | None = None) -> tuple[list[int], list[float], int | None, float]:
    """Greedy (or teacher-forced) decoding; returns argmax tokens, NLL of the fed tokens, stop step, seconds.

    Free-running decoding ends early at ``eos`` when given; teacher-forced runs never do.
    """
    logits = model(prompt, past_key_values=cache).logits[0, -1]
    preds: list[int] = []
    nll: list[float] = []
    stopped = None
    start = time.perf_counter()
    for i in range(steps):
        pred = int(logits.argmax())
        tok = forced[i] if forced is not None else pred
        preds.append(pred)
        nll.append(-float(torch.log_softmax(logits.float(), -1)[tok]))
        if i == steps - 1 or (forced is None and pred == eos):
            break
        if cache.would_overflow(1):
            stopped = i + 1
            break
        logits = model(torch.tensor([[tok]], device=prompt.device), past_key_values=cache).logits[0, -1]
    return preds, nll, stopped, time.perf_counter() - start


def policy_params(policy: str, budget: int) -> dict:
    """Scored policies observe at most 32 queries and compress in bursts of budget/16 tokens; KIVI's
    full-precision residual is kept below half the budget so quantisation, not the residual, fills it."""
    if policy in QUANTISED:
        return {"group_size": 32, "residual": max(32, min(128, (budget // 2) // 32 * 32))}
    if policy in ("snapkv", "rkv"):
        window = max(4, min(32, budget // 4))
        return {"window": window, "chunk": max(1, min(budget // 16, budget - window))}
    return {}


def chat_ids(tokenizer, text: str, device: torch.device) -> torch.Tensor:
    """One user turn rendered with the model's chat template, as input ids on ``device``."""
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)["input_ids"].to(device)


def budgeted_cache(policy: str, model: torch.nn.Module, budget: int | None) -> BudgetCache:
    return make_cache(policy, model, budget, **({} if budget is None else policy_params(policy, budget)))


def run(model: torch.nn.Module, tokenizer, prompts: list[str], new_tokens: int, fractions: list[float],
        out: Path | None) -> list[Row]:
    rows: list[Row] = []
    print(f"{'prompt':>6} {'policy':<12} {'budget':>10} {'tokens':>7} {'agree':>7} {'ppl':>8} {'tok/s':>7} {'peak KV':>10}  note",
          flush=True)
    for p_idx, text in enumerate(prompts):
        ids = chat_ids(tokenizer, text, model.device)
        total = ids.shape[1] + new_tokens
        with make_cache("full", model) as full:
            ref, nll, _, secs = decode(model, ids, full, new_tokens)
        emit(rows, out, Row(p_idx, "full", "100%", new_tokens, 1.0, ppl(nll), new_tokens / secs, full.peak_bytes))
        jobs = [(pol, None) for pol in QUANTISED] + [(pol, f) for f in fractions for pol in (*EVICTING, *QUANTISED)]
        for policy, frac in jobs:
            budget = None if frac is None else max(1, int(total * frac))
            label = "none" if frac is None else f"{frac:.0%}={budget}"
            try:
                with budgeted_cache(policy, model, budget) as cache:
                    preds, nll, stopped, secs = decode(model, ids, cache, new_tokens, forced=ref)
            except (ValueError, KVBudgetExceeded) as exc:
                emit(rows, out, Row(p_idx, policy, label, 0, 0.0, math.nan, 0.0, 0, f"error: {exc}"))
                continue
            diverge = next((i for i, (a, b) in enumerate(zip(preds, ref)) if a != b), len(preds))
            note = f"stop@{stopped} (budget)" if stopped else ""
            emit(rows, out, Row(p_idx, policy, label, len(preds), diverge / new_tokens, ppl(nll),
                                len(preds) / secs, cache.peak_bytes, note))
    return rows


MATH_INSTRUCTION = "\n\nReason step by step, then give the final answer as \\boxed{...}."


def math_accuracy(model: torch.nn.Module, tokenizer, problems: list, new_tokens: int, fractions: list[float]) -> None:
    """Accuracy vs KV budget: each policy solves every problem freely at each budget (share of prompt+new)."""
    from tools.tasks.mathx import answers_equivalent

    inputs = [chat_ids(tokenizer, p.prompt + MATH_INSTRUCTION, model.device) for p in problems]
    jobs = [("full", None)] + [(pol, f) for f in fractions for pol in (*EVICTING, *QUANTISED)]
    print(f"{'policy':<12} {'budget':>7} {'acc':>6} {'solved':>7} {'mean tok':>9} {'tok/s':>7} {'peak KV':>10}  notes",
          flush=True)
    for policy, frac in jobs:
        solved = tokens = stops = errors = 0
        seconds = 0.0
        peak = 0
        for problem, ids in zip(problems, inputs):
            budget = None if frac is None else max(1, int((ids.shape[1] + new_tokens) * frac))
            try:
                with budgeted_cache(policy, model, budget) as cache:
                    preds, _, stopped, secs = decode(model, ids, cache, new_tokens, eos=tokenizer.eos_token_id)
            except (ValueError, KVBudgetExceeded):
                errors += 1
                continue
            solved += answers_equivalent(str(problem.gold), tokenizer.decode(preds, skip_special_tokens=True))
            tokens += len(preds)
            seconds += secs
            stops += stopped is not None
            peak = max(peak, cache.peak_bytes)
        n = len(problems)
        label = "100%" if frac is None else f"{frac:.0%}"
        notes = ", ".join(x for x in (f"{stops} stopped at budget" if stops else "",
                                     f"{errors} prompt over budget" if errors else "") if x)
        print(f"{policy:<12} {label:>7} {solved / n:>6.1%} {solved:>4}/{n:<3}{tokens / max(1, n - errors):>8.0f} "
              f"{tokens / seconds if seconds else 0:>7.1f} {peak / 2**20:>8.2f}Mi  {notes}", flush=True)


def ppl(nll: list[float]) -> float:
    return math.exp(sum(nll) / len(nll)) if nll else math.nan


def emit(rows: list[Row], out: Path | None, row: Row) -> None:
    rows.append(row)
    print(f"{row.prompt:>6} {row.policy:<12} {row.budget:>10} {row.tokens:>7} {row.agreement:>7.3f} {row.ppl:>8.3f} "
          f"{row.tok_s:>7.1f} {row.peak_kv_bytes / 2**20:>8.2f}Mi  {row.note}", flush=True)
    if out is not None:
        out.write_text(json.dumps([asdict(r) for r in rows], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="CI-sized run: 128 new tokens, first prompt only")
    parser.add_argument("--model", type=Path, default=None, help="HF checkpoint dir (default: embedded SmolLM2-135M)")
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--prompts", type=int, default=None, help="how many of the fixed prompts to run")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.10, 0.25, 0.50])
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 avoids oversubscription on a shared box")
    parser.add_argument("--json", type=Path, default=None, help="write rows here as they complete")
    parser.add_argument("--math", type=Path, default=None, help="JSONL problem set: report accuracy vs KV budget instead")
    parser.add_argument("--limit", type=int, default=None, help="first N problems of --math")
    parser.add_argument("--device", default="cpu", help="torch device for the transformers model (cpu, cuda)")
    parser.add_argument("--dtype", default="float32", help="model dtype (bfloat16 on a GPU)")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.config import default_cache
    from agent.embedded import resolve_model

    torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model, default_cache())
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, args.dtype)).to(args.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    new_tokens = args.new_tokens or (128 if args.small else 2048)
    if args.math is not None:
        from tools.tasks.mathx import load_jsonl

        problems = load_jsonl(args.math, args.limit)
        print(f"model {model_dir.name}, {len(problems)} problems from {args.math.name}, up to {new_tokens} new tokens, "
              f"budgets {args.budgets} of prompt+new", flush=True)
        math_accuracy(model, tokenizer, problems, new_tokens, args.budgets)
        return
    n_prompts = args.prompts or 1
    print(f"model {model_dir.name}, {new_tokens} new tokens, budgets {args.budgets} of prompt+new", flush=True)
    run(model, tokenizer, PROMPTS[:n_prompts], new_tokens, args.budgets, args.json)


if __name__ == "__main__":
    main()
