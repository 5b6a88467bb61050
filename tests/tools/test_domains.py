from __future__ import annotations

import pytest

from tools.domains import get_domain, register_domain
from tools.problem import Problem, Verifier
from tools.tasks.arc import ArcVerifier


def test_known_domains_and_clear_error_for_unknown():
    assert {get_domain(n).name for n in ("arc", "math", "text")} == {"arc", "math", "text"}
    with pytest.raises(ValueError, match="unknown problem domain 'chess'"):
        get_domain("chess")


def test_arc_verifier_is_a_verifier():
    p = Problem(id="t", domain="arc", prompt="", meta={"train": [{"input": [[1]], "output": [[1]]}], "test_inputs": [[[2]]]})
    v = get_domain("arc").verifier(p)
    assert isinstance(v, ArcVerifier) and isinstance(v, Verifier)
    assert v("def transform(g):\n    return g").ok


def test_text_domain_normalises_and_accepts_any_gold():
    text = get_domain("text")
    p = Problem(id="t", prompt="Capital of France?", gold=["Paris", "paris, france"])
    assert text.score(p, ["<answer> Paris. </answer>"]) == 1.0
    assert text.score(p, ["Paris, France!"]) == 1.0
    assert text.score(p, ["Lyon"]) == 0.0
    assert text.verifier(p) is None


def test_register_domain(monkeypatch):
    from tools.domains import DOMAINS
    from tools.domains.base import Domain

    class Echo(Domain):
        name = "echo-test"

        def score(self, problem, attempts):
            return float(bool(attempts) and attempts[-1] == problem.gold)

    monkeypatch.setattr("tools.domains.DOMAINS", dict(DOMAINS))
    register_domain(Echo())
    assert get_domain("echo-test").score(Problem(id="e", prompt="", gold="x"), ["x"]) == 1.0


def test_gold_verifier_accepts_equivalent_answers_and_gives_feedback_otherwise():
    from tools.domains import GoldVerifier, verifier_for

    p = Problem(id="m", domain="math", prompt="Half of one?", gold="1/2")
    assert verifier_for(p, "domain") is None  # math has no gold-free check
    assert verifier_for(p, "off") is None
    gold = verifier_for(p, "gold")
    assert isinstance(gold, GoldVerifier) and isinstance(gold, Verifier)
    right, wrong = gold("<answer>0.5</answer>"), gold("<answer>2</answer>")
    assert right.ok and right.score == 1.0 and right.feedback == ""
    assert not wrong.ok and "reference answer" in wrong.feedback
    with pytest.raises(ValueError, match="no gold answer"):
        GoldVerifier(Problem(id="n", domain="math", prompt="?"))


def test_solve_and_eval_sub_commands_are_the_registered_domains():
    import argparse

    from agent.commands import eval as eval_cmd
    from agent.commands import solve as solve_cmd
    from tools.domains import command_domains

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    solve_cmd.register(sub)
    eval_cmd.register(sub)
    expected = {"solve": ["arc", "math", "game24", "gym"], "eval": ["arc", "math", "text", "game24", "gym"]}
    for command in ("solve", "eval"):
        kinds = next(a for a in sub.choices[command]._actions if isinstance(a, argparse._SubParsersAction))
        assert list(kinds.choices) == [d.name for d in command_domains(command)] == expected[command]
