"""How often does the model write a correct general procedure? Per prompt, per 100 samples: writes and repairs.

Learning keeps the rare correct program, so how fast it learns depends on how often one
appears. This asks one engine, all prompts in one batch, for sampled Game of 24 programs:

- write prompts, from scratch: ``current`` (the controller's), ``plan_first``, ``example_io``;
- distill prompts, on the same puzzles with their reference answers: rewrite that answer's
  form as a search over the inputs: ``distill`` (the controller's), ``distill_steps`` (spelled
  out in three steps), ``distill_example`` (with one worked illustration); "solves_own" counts
  the programs that solve the puzzle they were written from;
- repair prompts of a snapshot's stored best (``--snapshot``), on training puzzles it fails:
  ``repair`` (shown its failing check problems, as the controller did before), ``repair_known``
  (the controller's: each failing check problem also shows its answer from the training data),
  ``repair_diagnose`` (the same, asked to name the flaw in a comment before the code), and
  ``complement`` (the controller's sampled prompt once procedures are stored: a fresh program,
  shown six check problems the stored best fails with their answers, but not its code).

Every program runs in the jail on ``--eval`` training puzzles that are neither prompt puzzles
nor check problems (never dev), and each answer is checked. "General" solves all of them;
"adds" counts the ones a program solves that the stored best does not, and "union" what a
variant's programs solve together.

    python benchmarks/procedure_writing.py --snapshot g24-train12 --puzzles 4 --samples 4
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Settings
from agent.controller.procedures import (
    CHECK_LIMITS,
    complement_prompt,
    extract_function,
    function_name,
    looks_up_answers,
    repair_prompt,
    run_procedure,
)
from agent.controller.prompts import (
    PROCEDURE_DISTILL_PROMPT,
    PROCEDURE_WRITE_PROMPT,
    problem_text,
)
from agent.evaluation.snapshot import load_snapshot, store_paths, working_copy
from agent.llm import ChatMessage, GenParams, TextGenerator
from memory.schemas import Procedure
from memory.stores import open_memory
from tools.domains import get_domain
from tools.domains.game24 import DEFAULT_DEV_SIZE
from tools.domains.split import seeded_split
from tools.problem import Problem
from tools.tasks import game24

ROOT = Path(__file__).resolve().parents[1]
_REPLY = "Reply with one ```python code block and nothing else."


def _edit(text: str, old: str, new: str) -> str:
    """A variant of a controller prompt; an anchor that is gone fails loudly instead of measuring the original."""
    if old not in text:
        raise ValueError(f"prompt variant anchor {old!r} is no longer in the controller's prompt")
    return text.replace(old, new)


#: Write prompts; "current" is the one the controller uses.
WRITES = {
    "current": PROCEDURE_WRITE_PROMPT,
    "plan_first": _edit(
        PROCEDURE_WRITE_PROMPT, _REPLY, "First write a short plan as comments at the top of the code: what the "
        "function has to try, and how it checks a candidate. Then write the code. " + _REPLY),
    "example_io": _edit(PROCEDURE_WRITE_PROMPT, "It must: {doc}", "It must: {doc}\nFor example, {example}"),
}
REPAIRS = ("repair", "repair_known", "repair_diagnose", "complement")
_FORM = ("Where the answer uses this problem's values, use the function's inputs instead; try every way of placing "
         "them, check each candidate, and return None when none fits.")
#: Distill prompts, on the write puzzles with their reference answers; "distill" is the controller's.
DISTILLS = {
    "distill": PROCEDURE_DISTILL_PROMPT,
    "distill_steps": _edit(PROCEDURE_DISTILL_PROMPT, _FORM, (
        "Do it in three steps:\n1. Write the answer with a variable in place of each of this problem's values.\n"
        "2. Try every way of assigning the function's inputs to those variables.\n"
        "3. For each, compute the result and check it; return the answer text built from that assignment, or None "
        "when none fits.")),
    "distill_example": _edit(PROCEDURE_DISTILL_PROMPT, _FORM, _FORM + (
        " For example, had a problem with the values 2, 3, 5 and the goal 11 had the answer 2*3+5, the function "
        "would try a*b+c for every order a, b, c of its inputs.")),
}
_DIAGNOSE = ("Before the code, write one comment line that names what the function cannot do that the right answers "
             "above need. ")
EVAL_LIMITS = CHECK_LIMITS.model_copy(update={"cpu_seconds": 120, "wall_seconds": 180})


def _prompt(llm: TextGenerator, variant: str, puzzle: Problem, best: Procedure | None, checks: list[Problem],
            example: str) -> str:
    domain = get_domain("game24")
    if variant in DISTILLS:
        return llm.render_chat([ChatMessage(role="user", content=DISTILLS[variant].format(
            problem=problem_text(puzzle), answer=puzzle.gold, signature=domain.procedure_signature,
            doc=domain.procedure_doc))])
    if variant in WRITES:
        return llm.render_chat([ChatMessage(role="user", content=WRITES[variant].format(
            problem=problem_text(puzzle), signature=domain.procedure_signature, doc=domain.procedure_doc,
            example=example))])
    assert best is not None
    found = run_procedure(best.code, best.name, [puzzle, *checks])
    if variant == "complement":
        text = complement_prompt(llm, puzzle, domain, [p for p, _, _ in found.failed])
        assert text is not None, "the stored best solves every check problem: nothing to complement"
        return text
    text = repair_prompt(llm, puzzle, domain, best.code, found, set() if variant == "repair" else {p.id for p in checks})
    return _edit(text, "Use only the standard library.", _DIAGNOSE + "Use only the standard library.") \
        if variant == "repair_diagnose" else text


def _stored_best(settings: Settings, snapshot: str) -> tuple[Procedure, str]:
    manifest = load_snapshot(settings.home, snapshot)
    with tempfile.TemporaryDirectory(prefix="mnemos-writing-") as tmp:
        working_copy(settings.home, snapshot, Path(tmp))
        memory = open_memory(*store_paths(Path(tmp)))
        try:
            best = memory.procedures.best("game24") if memory.procedures is not None else None
        finally:
            memory.close()
    if best is None:
        raise SystemExit(f"snapshot {snapshot} holds no game24 procedure to repair")
    return best, manifest.content_sha256


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--snapshot", default=None, help="snapshot whose best game24 procedure the repair variants repair")
    ap.add_argument("--variants", default=None, help="comma-separated, from "
                    f"{', '.join([*WRITES, *DISTILLS, *REPAIRS])} (default: all; the repairs only with --snapshot)")
    ap.add_argument("--puzzles", type=int, default=4, help="training puzzles per variant (repairs: ones the best fails)")
    ap.add_argument("--samples", type=int, default=4, help="programs per prompt and puzzle")
    ap.add_argument("--eval", type=int, default=150, help="held-out training puzzles each program is run on")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-tokens", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "procedure_writing.json")
    args = ap.parse_args(argv)
    variants = args.variants.split(",") if args.variants else [*WRITES, *DISTILLS,
                                                               *(REPAIRS if args.snapshot else ())]
    if unknown := set(variants) - {*WRITES, *DISTILLS, *REPAIRS}:
        ap.error(f"unknown variant(s) {sorted(unknown)}")
    if not args.snapshot and set(variants) & set(REPAIRS):
        ap.error("repair variants need --snapshot")

    from agent.engine import make_engine

    settings = Settings.load(**({"model": args.model} if args.model else {}))
    domain = get_domain("game24")
    name = function_name(domain.procedure_signature or "solve")
    best, content = _stored_best(settings, args.snapshot) if args.snapshot else (None, None)
    checks = domain.check_problems(settings.budgets.procedure_checks)
    train, _ = seeded_split(game24.open_puzzles(), DEFAULT_DEV_SIZE, 0)
    rest = [p for p in train if p.id not in {c.id for c in checks}]
    random.Random(args.seed).shuffle(rest)
    solved_by_best = set(run_procedure(best.code, name, rest, EVAL_LIMITS).answers) if best is not None else set()
    on = {"write": rest[:args.puzzles], "repair": [p for p in rest if p.id not in solved_by_best][:args.puzzles]}
    taken = {p.id for ps in on.values() for p in ps}
    held = [p for p in rest if p.id not in taken][:args.eval]
    example = f"{name}([1, 4, 7, 8]) could return '(8-4)*(7-1)'."

    llm = make_engine(settings)
    try:
        prompts = [(v, p, _prompt(llm, v, p, best, checks, example))
                   for v in variants for p in on["repair" if v in REPAIRS else "write"]]
        asks = [ask for ask in prompts for _ in range(args.samples)]
        params = [GenParams(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed + i)
                  for i in range(len(asks))]
        t0 = time.perf_counter()
        outs = llm.generate([a[2] for a in asks], params)
        seconds = time.perf_counter() - t0
    finally:
        llm.close()

    best_passed = set(run_procedure(best.code, name, held, EVAL_LIMITS).passed) if best is not None else set()
    best_solved = len(best_passed) if best is not None else None
    rows = []
    for (variant, puzzle, _), out in zip(asks, outs, strict=True):
        code = extract_function(out.text, name) or ""
        lookup = bool(code) and looks_up_answers(code, [puzzle.gold] if variant in DISTILLS else None)
        ran = set(run_procedure(code, name, [puzzle, *held], EVAL_LIMITS).passed) if code and not lookup else set()
        passed = ran - {puzzle.id}
        rows.append({"variant": variant, "puzzle": puzzle.id, "function": bool(code), "lookup": lookup,
                     "solved": len(passed), "solves_own": puzzle.id in ran, "adds": len(passed - best_passed),
                     "passed": sorted(passed), "truncated": out.finish_reason == "length",
                     "generated_tokens": out.generated_tokens, "code": code[:2000]})
    results = {}
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        rates = [r["solved"] / len(held) for r in mine]
        general = sum(r == 1.0 for r in rates)
        top = max(mine, key=lambda r: r["solved"])
        union = set().union(*(r["passed"] for r in mine))
        results[variant] = {
            "samples": len(mine), "functions": sum(r["function"] for r in mine),
            "lookups": sum(r["lookup"] for r in mine), "truncated": sum(r["truncated"] for r in mine),
            "general": general, "general_per_100": round(100 * general / len(mine), 1),
            "partial": sum(0 < r < 1 for r in rates), "mean_rate": round(sum(rates) / len(rates), 4),
            "best_rate": round(max(rates), 4), "best_program": top["code"] if top["solved"] else None,
            "solves_own": sum(r["solves_own"] for r in mine),
            "union": len(union), "union_with_stored": len(union | best_passed),
            "adds_to_stored": sum(r["adds"] > 0 for r in mine),
            "beat_stored": sum(r["solved"] > best_solved for r in mine) if best_solved is not None else None,
            "mean_generated_tokens": round(sum(r["generated_tokens"] for r in mine) / len(mine), 1)}
        print(f"{variant}: {general}/{len(mine)} general, {results[variant]['partial']} partial, mean "
              f"{results[variant]['mean_rate']:.1%}, best {max(rates):.1%}, beat the stored best "
              f"{results[variant]['beat_stored']}", file=sys.stderr)
    generated = sum(o.generated_tokens for o in outs)
    data = {"model": settings.model, "snapshot": args.snapshot, "snapshot_content_sha256": content,
            "stored_best": None if best is None else {"id": best.id, "version": best.version,
                                                      "check": f"{best.passed}/{best.checked}",
                                                      "solved_eval": best_solved},
            "write_puzzles": [p.id for p in on["write"]], "repair_puzzles": [p.id for p in on["repair"]],
            "eval_puzzles": len(held), "samples_per_puzzle": args.samples, "temperature": args.temperature,
            "max_tokens": args.max_tokens, "seed": args.seed, "generated_tokens": generated,
            "seconds": round(seconds, 1), "tok_s": round(generated / seconds, 2), "variants": results,
            "programs": rows, "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
