"""How often does the model write a correct general procedure? Per writing prompt, per 100 samples.

Learning procedures depends on the model writing a general ``solve`` now and then; this
measures that rate for the prompt in ``agent/controller/prompts.py`` and for variants of
it, on training puzzles only (Game of 24's check problems and the first training
puzzles of the default split), each program cross-checked in the jail. One engine, all
prompts side by side, results to ``docs/results/procedure_writing.json``.

    python benchmarks/procedure_writing.py --samples 8 --puzzles 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Settings  # noqa: E402
from agent.controller.procedures import extract_function, function_name, looks_up_answers, run_procedure  # noqa: E402
from agent.controller.prompts import PROCEDURE_WRITE_PROMPT, problem_text  # noqa: E402
from agent.llm import ChatMessage, GenParams  # noqa: E402
from tools.domains import get_domain  # noqa: E402
from tools.domains.game24 import DEFAULT_DEV_SIZE  # noqa: E402
from tools.domains.split import seeded_split  # noqa: E402
from tools.tasks import game24  # noqa: E402

#: Variants of the writing prompt; "current" is the one the controller uses.
VARIANTS = {
    "current": PROCEDURE_WRITE_PROMPT,
    "plan_first": PROCEDURE_WRITE_PROMPT.replace(
        "Reply with one ```python code block and nothing else.",
        "First write a short plan as comments at the top of the code: what the function has to try, and how it "
        "checks a candidate. Then write the code. Reply with one ```python code block and nothing else."),
    "example_io": PROCEDURE_WRITE_PROMPT.replace(
        "It must: {doc}", "It must: {doc}\nFor example, {example}"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--samples", type=int, default=8, help="programs per prompt and puzzle (temperature 0.8)")
    ap.add_argument("--puzzles", type=int, default=3, help="training puzzles whose prompt is used")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("docs/results/procedure_writing.json"))
    args = ap.parse_args()

    from agent.engine import make_engine

    settings = Settings.load(**({"model": args.model} if args.model else {}))
    domain = get_domain("game24")
    signature = domain.procedure_signature or ""
    name = function_name(signature)
    checks = domain.check_problems(24)
    train, _ = seeded_split(game24.open_puzzles(), DEFAULT_DEV_SIZE, 0)
    puzzles = [p for p in train if p.id not in {c.id for c in checks}][: args.puzzles]
    example = f"{name}([1, 4, 7, 8]) could return '(8-4)*(7-1)'."
    llm = make_engine(settings)
    results: dict[str, dict[str, object]] = {}
    try:
        prompts, params, keys = [], [], []
        for variant in args.variants.split(","):
            for puzzle in puzzles:
                text = VARIANTS[variant].format(problem=problem_text(puzzle), signature=signature,
                                                doc=domain.procedure_doc, example=example)
                for i in range(args.samples):
                    prompts.append(llm.render_chat([ChatMessage(role="user", content=text)]))
                    params.append(GenParams(max_tokens=args.max_tokens, temperature=0.8, seed=1000 + i))
                    keys.append(variant)
        t0 = time.perf_counter()
        outs = llm.generate(prompts, params)
        seconds = time.perf_counter() - t0
        for variant in dict.fromkeys(keys):
            rates, programs = [], []
            for key, out in zip(keys, outs, strict=True):
                if key != variant:
                    continue
                code = extract_function(out.text, name)
                if code is None or looks_up_answers(code):
                    rates.append(0.0)
                    continue
                res = run_procedure(code, name, checks)
                rates.append(len(res.passed) / res.checked)
                programs.append((rates[-1], code))
            general = sum(r == 1.0 for r in rates)
            results[variant] = {"samples": len(rates), "general": general, "general_per_100": 100 * general / len(rates),
                                "partial": sum(0 < r < 1 for r in rates), "mean_check_rate": sum(rates) / len(rates),
                                "best_check_rate": max(rates), "best_program": max(programs)[1] if programs else None}
            print(f"{variant}: {general}/{len(rates)} general, {results[variant]['partial']} partial, "
                  f"mean check {results[variant]['mean_check_rate']:.2f}, best {max(rates):.2f}", file=sys.stderr)
        generated = sum(o.generated_tokens for o in outs)
        data = {"model": settings.model, "puzzles": [p.id for p in puzzles], "check_problems": len(checks),
                "samples_per_puzzle": args.samples, "temperature": 0.8, "max_tokens": args.max_tokens,
                "generated_tokens": generated, "seconds": seconds, "tok_s": generated / seconds, "variants": results}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2) + "\n")
    finally:
        llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
