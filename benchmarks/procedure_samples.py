"""How often the model writes a correct general procedure, per 100 samples: fresh writes against repairs.

Learning keeps the rare correct program, so its speed depends on how often one appears.
This asks the engine for sampled programs three ways on Game of 24 training puzzles that
the stored best procedure fails on, all in one batch:

- ``write``: the write prompt, from scratch;
- ``repair``: the stored best, shown where it fails on the training-side check problems;
- ``repair_known``: the same, with each failing check problem's answer from the training data.

Every program runs in the jail on ``--eval`` training puzzles that are neither repair
puzzles nor check problems (never dev), and each answer is checked. "General" means it
solves all of them.

    python benchmarks/procedure_samples.py --snapshot g24-train12 --puzzles 4 --samples 4
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Settings  # noqa: E402
from agent.controller.procedures import (  # noqa: E402
    CHECK_LIMITS,
    extract_function,
    function_name,
    looks_up_answers,
    repair_prompt,
    run_procedure,
)
from agent.controller.prompts import PROCEDURE_WRITE_PROMPT, problem_text  # noqa: E402
from agent.engine import make_engine  # noqa: E402
from agent.evaluation.snapshot import load_snapshot, store_paths, working_copy  # noqa: E402
from agent.llm import ChatMessage, GenParams, TextGenerator  # noqa: E402
from memory.stores import open_memory  # noqa: E402
from tools.domains import get_domain  # noqa: E402
from tools.domains.game24 import DEFAULT_DEV_SIZE  # noqa: E402
from tools.domains.split import seeded_split  # noqa: E402
from tools.problem import Problem  # noqa: E402
from tools.tasks import game24  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("write", "repair", "repair_known")
EVAL_LIMITS = CHECK_LIMITS.model_copy(update={"cpu_seconds": 120, "wall_seconds": 180})


def _prompts(llm: TextGenerator, variant: str, puzzle: Problem, code: str, checks: list[Problem]) -> str:
    domain = get_domain("game24")
    if variant == "write":
        return llm.render_chat([ChatMessage(role="user", content=PROCEDURE_WRITE_PROMPT.format(
            problem=problem_text(puzzle), signature=domain.procedure_signature, doc=domain.procedure_doc))])
    name = function_name(domain.procedure_signature or "solve")
    found = run_procedure(code, name, [puzzle, *checks])
    known = {p.id for p in checks} if variant == "repair_known" else set()
    return repair_prompt(llm, puzzle, domain, code, found, known)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", required=True, help="snapshot whose best game24 procedure is repaired")
    ap.add_argument("--puzzles", type=int, default=4, help="training puzzles the best fails on, per variant")
    ap.add_argument("--samples", type=int, default=4, help="samples per puzzle and variant")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval", type=int, default=150, help="training puzzles each program is run on")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-tokens", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "game24_procedure_samples.json")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if unknown := set(variants) - set(VARIANTS):
        ap.error(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    settings = Settings()
    domain = get_domain("game24")
    name = function_name(domain.procedure_signature or "solve")
    manifest = load_snapshot(settings.home, args.snapshot)
    with tempfile.TemporaryDirectory(prefix="mnemos-samples-") as tmp:
        working_copy(settings.home, args.snapshot, Path(tmp))
        memory = open_memory(*store_paths(Path(tmp)))
        try:
            best = memory.procedures.best("game24") if memory.procedures is not None else None
        finally:
            memory.close()
    if best is None:
        ap.error(f"snapshot {args.snapshot} holds no game24 procedure")
    checks = domain.check_problems(settings.budgets.procedure_checks)
    train, _ = seeded_split(game24.open_puzzles(), DEFAULT_DEV_SIZE, 0)
    taken = {p.id for p in checks}
    rest = [p for p in train if p.id not in taken]
    random.Random(args.seed).shuffle(rest)
    fails = set(run_procedure(best.code, name, rest).answers)
    repair_on = [p for p in rest if p.id not in fails][:args.puzzles]
    held = [p for p in rest if p.id not in {q.id for q in repair_on}][:args.eval]

    llm = make_engine(settings)
    try:
        asks = [(v, p, s, _prompts(llm, v, p, best.code, checks)) for v in variants for p in repair_on
                for s in range(args.samples)]
        params = [GenParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed + i)
                  for i in range(len(asks))]
        t0 = time.perf_counter()
        outs = asyncio.run(llm.agenerate([a[3] for a in asks], params))
        wall = time.perf_counter() - t0
    finally:
        llm.close()

    rows = []
    for (variant, puzzle, sample, _), out in zip(asks, outs, strict=True):
        code = extract_function(out.text, name) or ""
        lookup = bool(code) and looks_up_answers(code)
        solved = len(run_procedure(code, name, held, EVAL_LIMITS).passed) if code and not lookup else 0
        rows.append({"variant": variant, "puzzle": puzzle.id, "sample": sample, "function": bool(code),
                     "lookup": lookup, "solved": solved, "truncated": out.finish_reason == "length",
                     "generated_tokens": out.generated_tokens,
                     "code_sha": hashlib.sha256(code.encode()).hexdigest()[:12] if code else None,
                     "code": code if solved == len(held) else None})
    summary = {}
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        general = sum(r["solved"] == len(held) for r in mine)
        summary[variant] = {
            "samples": len(mine), "functions": sum(r["function"] for r in mine),
            "lookups": sum(r["lookup"] for r in mine), "truncated": sum(r["truncated"] for r in mine),
            "general": general, "general_per_100": round(100 * general / len(mine), 1) if mine else 0.0,
            "better_than_best": sum(r["solved"] > 0 and r["solved"] / len(held) > best.rate for r in mine),
            "mean_solved_rate": round(sum(r["solved"] for r in mine) / (len(mine) * len(held)), 4) if mine else 0.0,
            "mean_generated_tokens": round(sum(r["generated_tokens"] for r in mine) / len(mine), 1) if mine else 0.0,
        }
        print(f"{variant:>13}: {general}/{len(mine)} general, {summary[variant]['better_than_best']} beat the stored "
              f"best, mean rate {summary[variant]['mean_solved_rate']:.1%}")
    best_solved = len(run_procedure(best.code, name, held, EVAL_LIMITS).passed)
    result = {"snapshot": args.snapshot, "content_sha256": manifest.content_sha256, "model": settings.model,
              "best": {"id": best.id, "version": best.version, "check": f"{best.passed}/{best.checked}",
                       "solved_eval": best_solved},
              "eval_puzzles": len(held), "repair_puzzles": [p.id for p in repair_on],
              "temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed,
              "generation_seconds": round(wall, 1), "summary": summary, "samples": rows,
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
