"""Math loading (GSM8K / MATH shapes), answer equivalence, the generator and the Python tool."""

from __future__ import annotations

import json
import threading
from fractions import Fraction

import pytest

from tools.domains import get_domain
from tools.sandbox.pytool import ToolOutput, python_tool
from tools.tasks import mathgen, mathx


def _write(tmp_path, records, name="set.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def test_gsm8k_shape(tmp_path):
    path = _write(tmp_path, [{"question": "Q1?", "answer": "work\n#### 1,250"}, {"question": "Q2?", "answer": "#### -3"}])
    probs = mathx.load_jsonl(path)
    assert [p.gold for p in probs] == ["1250", "-3"]
    assert probs[0].prompt == "Q1?" and probs[0].domain == "math" and probs[0].id == "set-1"
    assert probs[0].meta["format"] == "gsm8k"


def test_math_shapes_boxed_and_answer_field(tmp_path):
    path = _write(tmp_path, [
        {"problem": "P1", "solution": "so $\\boxed{\\frac{1}{\\sqrt{2}}}$.", "level": "Level 2", "type": "Algebra"},
        {"problem": "P2", "solution": "long", "answer": "7", "unique_id": "test/x/1.json"},
        "",
    ])
    p1, p2 = mathx.load_jsonl(path)
    assert p1.gold == "\\frac{1}{\\sqrt{2}}" and p1.meta["level"] == "Level 2"
    assert p2.gold == "7" and p2.id == "test/x/1.json"


def test_limit_stops_early(tmp_path):
    path = _write(tmp_path, [{"question": f"Q{i}", "answer": f"#### {i}"} for i in range(5)] + ["garbage"])
    assert len(mathx.load_jsonl(path, limit=3)) == 3


@pytest.mark.parametrize("line,message", [
    ("{bad json", "not valid JSON"),
    (json.dumps({"text": "x", "label": 1}), "unrecognised record (keys: label, text)"),
    (json.dumps({"question": "x", "answer": "no marker"}), "####"),
    (json.dumps({"problem": "x", "solution": "no box"}), "boxed"),
    (json.dumps([1, 2]), "JSON object"),
])
def test_bad_lines_are_named(tmp_path, line, message):
    path = _write(tmp_path, [{"question": "ok", "answer": "#### 1"}, line])
    with pytest.raises(ValueError) as exc:
        mathx.load_jsonl(path)
    assert f"{path}:2:" in str(exc.value) and message in str(exc.value)


def test_duplicate_ids_are_rejected(tmp_path):
    path = _write(tmp_path, [{"problem": "a", "answer": "1", "id": "x"}, {"problem": "b", "answer": "2", "id": "x"}])
    with pytest.raises(ValueError, match="duplicate"):
        mathx.load_jsonl(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        mathx.load_jsonl(tmp_path / "none.jsonl")


@pytest.mark.parametrize("gold,predicted", [
    ("0.5", "1/2"),
    ("1/2", "0.5"),
    ("\\frac{1}{2}", "0.5"),
    ("0.5", "The answer is \\frac{1}{2}."),
    ("18", "The total is 18 dollars."),
    ("18", "18 cm"),
    ("18", "\\boxed{18}"),
    ("1250", "<answer>1,250</answer>"),
    ("72", "<answer>$72.00</answer>"),
    ("x^2+2x", "x(x+2)"),
    ("\\frac{\\sqrt{3}}{2}", "so \\boxed{\\frac{\\sqrt3}{2}}"),
    ("(1,2)", "(1, 2)"),
    ("10", "5 + 5 = 10"),
    ("-3", "x = -3"),
    ("14/15", "\\frac{14}{15}"),
    ("2024", "in 2024 - the final answer is 2024"),
    ("\\text{(C)}", "C"),
])
def test_equivalent_answers(gold, predicted):
    assert mathx.answers_equivalent(gold, predicted)


@pytest.mark.parametrize("gold,predicted", [
    ("5", "<answer>6</answer>"),
    ("-3", "3"),
    ("0.5", "0.25"),
    ("2", ""),
    ("2", None),
    ("7", "I could not solve it"),
    ("14/15", "1/3 + 3/5"),  # the question restated, not answered
    ("-30", "26 - 28 * 2"),
    ("12", "3 \\times 4"),
])
def test_different_answers(gold, predicted):
    assert not mathx.answers_equivalent(gold, predicted)


def test_equivalence_works_off_the_main_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(mathx.answers_equivalent("1/2", "0.5")))
    t.start()
    t.join()
    assert out == [True]


def test_extract_answer_prefers_tag_then_box():
    assert mathx.extract_answer("think \\boxed{3} ... <answer>4</answer>") == "4"
    assert mathx.extract_answer("a \\boxed{1} then \\boxed{\\frac{2}{3}}") == "\\frac{2}{3}"
    assert mathx.extract_answer("   ") is None


def test_math_score_uses_the_final_attempt():
    p = mathgen.generate(1)[0]
    math = get_domain("math")
    assert math.score(p, ["wrong 999999", p.gold]) == 1.0
    assert math.score(p, [p.gold, "999999"]) == 0.0
    assert math.score(p, []) == 0.0
    assert math.verifier(p) is None


def test_generator_is_seeded_and_answers_are_right():
    a, b, c = mathgen.generate(10, seed=3), mathgen.generate(10, seed=3), mathgen.generate(10, seed=4)
    assert [p.model_dump() for p in a] == [p.model_dump() for p in b]
    assert [p.prompt for p in a] != [p.prompt for p in c]
    assert len({p.id for p in a}) == 10
    assert {p.meta["template"] for p in a} == {"arithmetic", "linear", "fractions", "word", "percent"}
    for p in a:
        if p.meta["template"] == "arithmetic":
            expr = p.prompt.removeprefix("Compute ").rstrip(".")
            assert Fraction(eval(expr)) == Fraction(p.gold)
        if p.meta["template"] == "linear":
            lhs, rhs = p.prompt.removeprefix("Solve for x: ").rstrip(".").split(" = ")
            a_coef, b_const = lhs.split("x + ")
            assert int(a_coef) * int(p.gold) + int(b_const.strip("()")) == int(rhs)
        assert mathx.answers_equivalent(p.gold, f"<answer>{p.gold}</answer>")
    with pytest.raises(ValueError):
        mathgen.generate(-1)


def test_python_tool_computes_and_contains():
    assert python_tool("print(17 * 23)") == ToolOutput(text="391", ok=True)
    assert python_tool("from fractions import Fraction\nFraction(1, 3) + Fraction(1, 6)").text == "Fraction(1, 2)"
    failed = python_tool("1 / 0")
    assert not failed.ok and "ZeroDivisionError" in failed.text
    assert "forbidden" in python_tool("import os\nos.system('id')").text
    assert python_tool("print('error (not really)')").ok  # printed text never decides success
