"""Arms that read no learned memory, carried from another evaluation of the same split instead of solved again.

``plain``, ``off`` and ``scaffold`` never read what training learned, so a second
evaluation of the same split and settings (another training recipe, say) would
only repeat them: on a 2-core CPU that is one to two hours for 360 problems. Their
episodes and batch summary are copied under this evaluation's run ids, the machines
that solved them are added to its machine log, and ``carried.json`` records where
each came from, for the report. Nothing is copied unless the split and every
setting an arm reads are the same; a split that trained otherwise is accepted where
problem ids name the same problem everywhere (gym) and its dev problems include ours.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from agent.batch.report import SUMMARY_FILE, run_episodes
from agent.config import Settings
from agent.evaluation.arms import SETUP_FIELDS, run_id
from agent.evaluation.machine import record_machine, recorded_machines
from memory.schemas import Episode
from tools.domains import get_domain
from tools.domains.split import SplitRecord

CARRIED_FILE = "carried.json"
#: Arms that read nothing learned on the training part.
CARRYABLE_ARMS = ("plain", "off", "scaffold")
#: Budgets read only while learning, which none of those arms does.
LEARNING_BUDGETS = frozenset({"procedure_samples", "procedure_tokens", "procedure_distill", "procedure_checks",
                              "concept_trial_problems", "learn_rounds"})


def _budgets(budgets: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in budgets.items() if k not in LEARNING_BUDGETS}


def _holds_dev(theirs: SplitRecord, ours: SplitRecord) -> bool:
    """Every dev problem of ours is one of theirs: where ids name the same problem in every split (a few families
    of a larger mixed evaluation, say), even though the two trained on different problems."""
    return (theirs.kind == ours.kind and get_domain(ours.kind).global_ids
            and set(ours.dev_ids) <= set(theirs.dev_ids))


def check_source(source_dir: Path, record: SplitRecord, settings: Settings) -> bool:
    """Raise ValueError unless ``source_dir`` evaluated our dev problems with the same arm settings; True when it
    is the very same split (else it holds ours among more, see :func:`_holds_dev`)."""
    name = source_dir.name
    split_path, result_path = source_dir / "split.json", source_dir / "eval.json"
    if not split_path.is_file() or not result_path.is_file():
        raise ValueError(f"--baselines-from {name}: no finished evaluation of that name in {source_dir.parent}")
    theirs_split = SplitRecord.model_validate_json(split_path.read_text())
    same = theirs_split.fingerprint() == record.fingerprint()
    if not same and not _holds_dev(theirs_split, record):
        raise ValueError(f"--baselines-from {name}: it was run on another split; its arms are not comparable")
    theirs = json.loads(result_path.read_text()).get("settings") or {}
    ours = settings.model_dump(mode="json", include={*SETUP_FIELDS, "budgets"})
    changed = sorted(k for k in SETUP_FIELDS if k in theirs and theirs.get(k) != ours.get(k))
    mine, other = _budgets(ours.get("budgets") or {}), _budgets(theirs.get("budgets") or {})
    # A budget one side lacks was added to mnemos later, with a default that keeps the old behaviour.
    changed += sorted(f"budgets.{k}" for k in mine.keys() & other.keys() if mine[k] != other[k])
    if changed:
        raise ValueError(f"--baselines-from {name}: run with other settings ({', '.join(changed)}); "
                         "its arms are not comparable")
    return same


def carry_arms(source: str, arms: list[str], dev_ids: list[str], settings: Settings, name: str, episodes: Any,
               record: SplitRecord) -> dict[str, str]:
    """Copy the episodes of ``arms`` (those of :data:`CARRYABLE_ARMS`) that this evaluation lacks from ``source``.

    Returns arm -> source for every arm carried now or before. Problems the source never solved stay
    to be solved here.
    """
    eval_dir, source_dir = settings.runs_dir / name, settings.runs_dir / source
    path = eval_dir / CARRIED_FILE
    carried: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    wanted = [a for a in arms if a in CARRYABLE_ARMS]
    if not wanted:
        return carried
    whole = check_source(source_dir, record, settings)
    wanted_ids = set(dev_ids)
    for arm in wanted:
        have = {e.problem_id for e in run_episodes(episodes, run_id(name, arm)) if e.verdict != "error"}
        theirs = [e for e in run_episodes(episodes, run_id(source, arm))
                  if e.problem_id in wanted_ids and e.problem_id not in have and e.verdict != "error"]
        if not theirs:
            continue
        episodes.add_many([Episode.model_validate({**e.model_dump(exclude={"id"}), "run_id": run_id(name, arm)})
                           for e in theirs])
        summary, mine = settings.runs_dir / run_id(source, arm), settings.runs_dir / run_id(name, arm)
        if whole and (summary / SUMMARY_FILE).is_file() and not (mine / SUMMARY_FILE).is_file():
            shutil.copytree(summary, mine, dirs_exist_ok=True)
        carried[arm] = source
    for machine in recorded_machines(source_dir):
        record_machine(eval_dir, machine)
    path.write_text(json.dumps(carried, indent=2))
    return carried


def carried_arms(eval_dir: Path) -> dict[str, str]:
    """Arm -> the evaluation it was carried from (empty when none was)."""
    path = Path(eval_dir) / CARRIED_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def reported_walls(eval_dir: Path) -> dict[str, tuple[float, int]]:
    """arm -> (wall seconds, problems) as the evaluation's last report gave them: an archive restores the report,
    not the arms' batch summaries, so that report is where the times measured where the arms ran are kept."""
    path = Path(eval_dir) / "eval.json"
    if not path.is_file():
        return {}
    arms = json.loads(path.read_text()).get("arms") or {}
    return {a: (r["wall_seconds"], r.get("n") or 0) for a, r in arms.items() if r.get("wall_seconds") is not None}


def carried_wall(runs_dir: Path, source: str, arm: str, n: int) -> float | None:
    """The wall seconds ``source``'s report gave ``arm``, pro rata for ``n`` of its problems where only some of
    them were carried."""
    wall, total = reported_walls(Path(runs_dir) / source).get(arm, (None, 0))
    return wall * n / total if wall is not None and total and n < total else wall
