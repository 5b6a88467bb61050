"""Game of 24: the regenerated puzzle set, the reserved fifth, the exact checker and the domain's split."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from tools.domains import get_domain
from tools.tasks import game24


def test_every_solvable_set_is_a_puzzle_and_a_fifth_is_reserved():
    puzzles = game24.all_puzzles()
    assert len(puzzles) == 1362  # 4nums.com's count
    reserved = [p for p in puzzles if int(hashlib.sha256(game24.puzzle_id(p).encode()).hexdigest(), 16) % 5 == 0]
    assert len(reserved) == 261
    open_ = game24.open_puzzles()
    assert len(open_) == 1101 and not {p.id for p in open_} & {game24.puzzle_id(r) for r in reserved}
    assert game24.find_solution([1, 1, 1, 1]) is None and (1, 1, 1, 1) not in puzzles
    assert all(game24.check(p.gold, p.meta["numbers"]).ok for p in open_[:200])


@pytest.mark.parametrize(("expr", "numbers", "ok", "says"), [
    ("8/(3-8/3)", [3, 3, 8, 8], True, ""),
    ("(8-4)*(7-1) = 24", [1, 4, 7, 8], True, ""),
    ("6 × 4 × (2 − 1)", [1, 2, 4, 6], True, ""),
    ("8*3", [1, 1, 3, 8], False, "exactly once"),
    ("(6+6)+(6+6)", [6, 6, 6, 1], False, "exactly once"),
    ("4*6+1-1+0", [1, 1, 4, 6], False, "exactly once"),
    ("1+2+3+4", [1, 2, 3, 4], False, "equals 10"),
    ("2**3*3*1", [1, 2, 3, 3], False, "only numbers"),
    ("-1+5*5", [1, 5, 5], False, "only numbers"),
    ("__import__('os')", [1, 2, 3, 4], False, "only numbers"),
    ("4/(1-1)*6", [1, 1, 4, 6], False, "division by zero"),
    ("", [1, 2, 3, 4], False, "no expression"),
])
def test_checker_is_exact_and_uses_each_number_once(expr, numbers, ok, says):
    verdict = game24.check(expr, numbers)
    assert verdict.ok is ok
    assert says in verdict.feedback


def test_jsonl_loader_names_the_bad_line(tmp_path: Path):
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps({"numbers": [8, 3, 8, 3]}) + "\n\n" + json.dumps({"numbers": [1, 2, 3, 4]}) + "\n")
    problems = game24.load_jsonl(good)
    assert [p.id for p in problems] == ["3-3-8-8", "1-2-3-4"] and problems[0].meta["numbers"] == [3, 3, 8, 8]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"numbers": [1, 2, 3, 4]}) + "\n" + json.dumps({"numbers": [1, 2]}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        game24.load_jsonl(bad)


def _args(**kw: object) -> argparse.Namespace:
    base = {"train": None, "dev": None, "dev_size": None, "split_seed": 0, "small": False}
    return argparse.Namespace(**{**base, **kw})


def test_default_split_is_deterministic_disjoint_and_never_reserved():
    domain = get_domain("game24")
    split, _ = domain.eval_split(_args())
    again, _ = domain.eval_split(_args())
    assert len(split.dev) == 200 and len(split.train) == 901
    assert [p.id for p in split.dev] == [p.id for p in again.dev]
    assert [p.id for p in split.train] == [p.id for p in again.train]
    # training comes in a seeded order, so --train-limit 40 is not forty 1-1-x-y puzzles
    assert len({p.id.split("-")[0] for p in split.train[:40]}) >= 5
    assert not {p.id for p in split.dev} & {p.id for p in split.train}
    assert not any(game24.is_reserved(p.id) for p in [*split.train, *split.dev])
    assert not {p.id for p in domain.check_problems(24)} & {p.id for p in split.dev}


def test_split_files_with_a_reserved_puzzle_are_refused(tmp_path: Path):
    reserved = next(p for p in game24.all_puzzles() if game24.is_reserved(game24.puzzle_id(p)))
    dev = tmp_path / "dev.jsonl"
    dev.write_text(json.dumps({"numbers": list(reserved)}) + "\n")
    with pytest.raises(ValueError, match="reserved"):
        get_domain("game24").eval_split(_args(dev=dev))


def test_domain_reads_the_boxed_expression_and_scores_with_the_checker():
    domain = get_domain("game24")
    problem = game24.make_problem([8, 3, 8, 3])
    assert domain.final_answer("so \\boxed{8/(3-8/3)}") == "8/(3-8/3)"
    assert domain.score(problem, ["8/(3-8/3)"]) == 1.0 and domain.score(problem, ["8*3"]) == 0.0
    assert domain.verifier(problem)("8/(3-8/3)").ok
    assert domain.procedure_args(problem) == [[3, 3, 8, 8]]
    assert "Numbers: 3 3 8 8" in domain.plain_prompt(problem) and "\\boxed{expression}" in domain.plain_prompt(problem)


def test_controller_without_memory_shows_the_model_exactly_the_plain_prompt():
    from agent.controller.prompts import solve_messages

    problem = game24.make_problem([4, 7, 8, 8])
    [user] = solve_messages(problem)
    assert user.content == get_domain("game24").plain_prompt(problem)
