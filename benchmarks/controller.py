"""Controller benchmark: plain generation vs the controller with recall, on generated RULER-style tasks.

Each task hides facts in thousands of tokens of filler; the question needs two
of them chained ("the code of the person who lives in X": first who lives in
X, then that person's code). One engine serves every variant, side by side:

* plain            - document + question, answer directly
* ctl/search       - controller, evidence found by lexical + embedding search
* ctl/copy-sentence- controller, model copies a sentence (structured-output choice)
* ctl/copy-token   - controller, model copies tokens under the verbatim logits processor

Printed per variant: accuracy, evidence recall (share of the two needed facts
found in the evidence), tokens, engine seconds and the controller's own
overhead as a share of engine time (target < 5%).

A second table (issue 5) compares thought folding on vs off at the same KV
token budget (``kv_budget``), on these recall tasks and on generated math
problems: with folding off a trace that fills the budget ends (``budget:kv``);
with folding on, older segments are summarised and the trace goes on.

    python benchmarks/controller.py --small      # CI-sized
    python benchmarks/controller.py --tasks 12 --filler-tokens 3000
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this folder comes first on sys.path and sibling benchmarks named like
# packages (retrieval.py, kvcache.py) would shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

NAMES = ["Ava Lind", "Bruno Sato", "Chen Wei", "Dara Holt", "Emil Novak", "Farah Aziz", "Goran Ilic", "Hana Mori",
         "Ivo Berg", "Jana Kral", "Kofi Mensah", "Lea Roux", "Milo Hart", "Nia Osei", "Omar Haddad", "Pia Lund"]
CITIES = ["Oslo", "Lima", "Quito", "Perth", "Dakar", "Riga", "Hanoi", "Porto", "Tunis", "Sucre", "Cork", "Bern",
          "Accra", "Turku", "Split", "Gdansk"]
FILLER = ["The grass was green and the sky was calm.", "A train passed slowly through the valley.",
          "Nobody remembered the name of the old bridge.", "The market opened early on most days.",
          "Clouds gathered over the hills in the afternoon.", "The river carried leaves toward the sea.",
          "Children played near the fountain after school.", "A quiet wind moved through the orchard.",
          "The library kept its windows open in summer.", "Bakers lit their ovens before dawn."]


@dataclass
class Task:
    id: str
    context: str
    question: str
    gold: str
    facts: list[str]
    score: Callable[[str | None], bool] | None = None


def make_tasks(n: int, filler_tokens: int, seed: int = 0) -> list[Task]:
    """Each task: 6 people with a city and a code, facts scattered in filler (~1.3 tokens/word)."""
    rng = random.Random(seed)
    tasks = []
    for t in range(n):
        people = rng.sample(NAMES, 6)
        cities = rng.sample(CITIES, 6)
        codes = [str(rng.randint(1000, 9999)) for _ in people]
        facts = [f"{p} lives in {c}." for p, c in zip(people, cities, strict=True)]
        facts += [f"The secret code of {p} is {k}." for p, k in zip(people, codes, strict=True)]
        sentences = []
        while sum(len(s.split()) for s in sentences) * 1.3 < filler_tokens:
            sentences.append(rng.choice(FILLER))
        for f in facts:
            sentences.insert(rng.randrange(len(sentences) + 1), f)
        i = rng.randrange(6)
        tasks.append(Task(id=f"ruler-{t}", context=" ".join(sentences),
                          question=f"What is the secret code of the person who lives in {cities[i]}? "
                                   "Answer with the number only.",
                          gold=codes[i], facts=[facts[i], facts[6 + i]]))
    return tasks


class Timed:
    """Forwards to a model or embedder, summing the seconds spent inside it."""

    def __init__(self, inner, *methods: str):
        self._inner = inner
        self.seconds = 0.0
        for m in methods:
            setattr(self, m, self._wrap(getattr(inner, m)))

    def _wrap(self, fn):
        def call(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t0
        return call

    def __getattr__(self, name):
        return getattr(self._inner, name)


@dataclass
class Row:
    correct: int = 0
    evidence_hits: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    engine_s: float = 0.0
    embed_s: float = 0.0
    wall_s: float = 0.0
    n: int = 0
    notes: list[str] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)


def is_correct(answer: str | None, gold: str) -> bool:
    return bool(answer) and gold in re.findall(r"\d+", answer or "")


def run_plain(engine, tasks: list[Task]) -> Row:
    from agent.llm import ChatMessage, GenParams

    row = Row()
    timed = Timed(engine, "generate")
    for t in tasks:
        t0 = time.perf_counter()
        prompt = engine.render_chat([ChatMessage(role="user", content=f"Document:\n{t.context}\n\nQuestion:\n{t.question}")])
        out = timed.generate([prompt], GenParams(max_tokens=32))[0]
        row.wall_s += time.perf_counter() - t0
        row.correct += is_correct(out.text, t.gold)
        row.prompt_tokens += out.prompt_tokens
        row.generated_tokens += out.generated_tokens
        row.n += 1
    row.engine_s = timed.seconds
    return row


def run_controller(engine, embedder, tasks: list[Task], home: Path, recall_mode: str, mechanism: str,
                   **overrides: object) -> Row:
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.config import Settings
    from agent.controller import Controller
    from agent.controller.checkpoint import serializer
    from tools.problem import Problem

    budgets = {"segments": 3, "segment_tokens": 64, "tokens": 160, "recalls": 3, "retries": 0,
               **overrides.pop("budgets", {})}
    settings = Settings(home=home, memory_mode="off", recall_mode=recall_mode, budgets=budgets,
                        max_model_len=engine.max_model_len, copy_mechanism=mechanism, prime_recall=True,
                        **overrides)
    llm = Timed(engine, "generate")
    emb = Timed(embedder, "encode")
    ctl = Controller(llm, None, settings, InMemorySaver(serde=serializer()), embedder=emb)
    row = Row()
    for t in tasks:
        res = ctl.solve(Problem(id=t.id, prompt=t.question, context=t.context))
        row.wall_s += res.seconds
        row.correct += t.score(res.answer) if t.score else is_correct(res.answer, t.gold)
        row.ends[res.end_reason] = row.ends.get(res.end_reason, 0) + 1
        evidence = " ".join(e.text for e in res.trace.evidence)
        if t.facts:
            row.evidence_hits += sum(f in evidence for f in t.facts) / len(t.facts)
        row.prompt_tokens += res.prompt_tokens
        row.generated_tokens += res.generated_tokens
        row.notes += res.trace.notes
        row.n += 1
    row.engine_s, row.embed_s = llm.seconds, emb.seconds
    return row


def math_tasks(n: int) -> list[Task]:
    """Generated math problems (known answers), scored by the math domain's equivalence check."""
    from tools.domains import get_domain
    from tools.tasks.mathgen import generate

    domain = get_domain("math")
    return [Task(id=p.id, context="", question=p.prompt, gold=str(p.gold), facts=[],
                 score=lambda a, p=p: a is not None and domain.score(p, [a]) >= 1.0) for p in generate(n, seed=7)]


def fold_table(engine, embedder, sets: dict[str, list[Task]], home: Path, budgets: dict[str, int]) -> None:
    """Folding on vs off at one KV budget per set, more segments than the budget can hold."""
    print(f"\n{'set':<8} {'kv_budget':>9} {'folding':>8} {'acc':>6} {'prompt tok':>11} {'gen tok':>8} ends")
    for name, tasks in sets.items():
        for policy in ("full", "fold"):
            r = run_controller(engine, embedder, tasks, home / f"fold-{name}-{policy}", "controller", "sentence",
                               kv_policy=policy, kv_budget=budgets[name], budgets={"segments": 8, "tokens": 512})
            ends = ", ".join(f"{k} {v}" for k, v in sorted(r.ends.items()))
            print(f"{name:<8} {budgets[name]:>9} {'on' if policy == 'fold' else 'off':>8} {r.correct / r.n:>6.0%} "
                  f"{r.prompt_tokens / r.n:>11.0f} {r.generated_tokens / r.n:>8.0f} {ends}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="CI size: 3 tasks, ~800 filler tokens")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--fold-only", action="store_true", help="only the folding on/off table")
    ap.add_argument("--filler-tokens", type=int, default=2500)
    ap.add_argument("--model", type=Path, default=None, help="HF checkpoint dir (default: embedded SmolLM2-135M)")
    ap.add_argument("--max-model-len", type=int, default=4096)
    args = ap.parse_args()
    n, filler = (3, 800) if args.small else (args.tasks, args.filler_tokens)

    from agent.config import Settings
    from agent.engine import VERBATIM_PROCESSOR, Engine
    from retrieval.embedder import Embedder

    tasks = make_tasks(n, filler)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), model=args.model, max_model_len=args.max_model_len)
        t0 = time.perf_counter()
        engine = Engine.from_settings(settings, logits_processors=[VERBATIM_PROCESSOR])
        print(f"engine ready in {time.perf_counter() - t0:.0f}s; {n} tasks, "
              f"~{engine.count_tokens(tasks[0].context)} context tokens each")
        embedder = Embedder()
        embedder.encode(["warm up"])
        fold_sets = {"recall": tasks, "math": math_tasks(n)}
        longest = max(engine.count_tokens(t.context) for t in tasks)
        fold_budgets = {"recall": longest + 150, "math": 260}
        if args.fold_only:
            fold_table(engine, embedder, fold_sets, Path(tmp), fold_budgets)
            engine.close()
            return
        rows = {
            "plain": run_plain(engine, tasks),
            "ctl/search": run_controller(engine, embedder, tasks, Path(tmp) / "a", "controller", "sentence"),
            "ctl/copy-sentence": run_controller(engine, embedder, tasks, Path(tmp) / "b", "model-copy", "sentence"),
            "ctl/copy-token": run_controller(engine, embedder, tasks, Path(tmp) / "c", "model-copy", "token"),
        }
        print_rows(rows)
        fold_table(engine, embedder, fold_sets, Path(tmp), fold_budgets)
        engine.close()


def print_rows(rows: dict[str, Row]) -> None:
    head = f"{'variant':<18} {'acc':>6} {'ev-recall':>9} {'prompt tok':>11} {'gen tok':>8} {'engine s':>9} " \
           f"{'embed s':>8} {'overhead':>9} {'ovh-no-emb':>10}"
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        other = max(r.wall_s - r.engine_s, 0.0)
        ev = "-" if name == "plain" else f"{r.evidence_hits / r.n:.0%}"
        print(f"{name:<18} {r.correct / r.n:>6.0%} {ev:>9} {r.prompt_tokens / r.n:>11.0f} {r.generated_tokens / r.n:>8.0f} "
              f"{r.engine_s / r.n:>9.2f} {r.embed_s / r.n:>8.2f} {other / max(r.engine_s, 1e-9):>9.1%} "
              f"{max(other - r.embed_s, 0) / max(r.engine_s, 1e-9):>10.1%}")
    print("per-task means; overhead = (solve wall - engine time) / engine time; ovh-no-emb excludes embedding; "
          "ev-recall = share of the two needed facts found in the evidence")
    rejected = sum(1 for r in rows.values() for n_ in r.notes if n_.startswith("copy rejected"))
    if rejected:
        print(f"model-copy spans rejected as not verbatim: {rejected}")


if __name__ == "__main__":
    main()
