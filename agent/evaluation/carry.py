"""Arms that read no learned memory, carried from another evaluation of the same split instead of solved again.

``plain``, ``off`` and ``scaffold`` never read what training learned, so a second
evaluation of the same split and settings (another training recipe, say) would
only repeat them: on a 2-core CPU that is one to two hours for 360 problems. Their
episodes and batch summary are copied under this evaluation's run ids, the machines
that solved them are added to its machine log, and ``carried.json`` records where
each came from, for the report. Nothing is copied unless the split and every
setting an arm reads are the same.
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
from tools.domains.split import SplitRecord

CARRIED_FILE = "carried.json"
#: Arms that read nothing learned on the training part.
CARRYABLE_ARMS = ("plain", "off", "scaffold")
#: Budgets read only while learning, which none of those arms does.
LEARNING_BUDGETS = frozenset({"procedure_samples", "procedure_tokens", "procedure_distill", "procedure_checks",
                              "concept_trial_problems", "learn_rounds"})


def _budgets(budgets: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in budgets.items() if k not in LEARNING_BUDGETS}


def check_source(source_dir: Path, record: SplitRecord, settings: Settings) -> None:
    """Raise ValueError unless ``source_dir`` is an evaluation of the same split with the same arm settings."""
    name = source_dir.name
    split_path, result_path = source_dir / "split.json", source_dir / "eval.json"
    if not split_path.is_file() or not result_path.is_file():
        raise ValueError(f"--baselines-from {name}: no finished evaluation of that name in {source_dir.parent}")
    if SplitRecord.model_validate_json(split_path.read_text()).fingerprint() != record.fingerprint():
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
    check_source(source_dir, record, settings)
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
        if (summary / SUMMARY_FILE).is_file() and not (mine / SUMMARY_FILE).is_file():
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


def carried_wall(runs_dir: Path, source: str, arm: str) -> float | None:
    """The wall seconds ``source``'s report gave ``arm`` (an archive restores the report, not the batch summary)."""
    path = Path(runs_dir) / source / "eval.json"
    if not path.is_file():
        return None
    return ((json.loads(path.read_text()).get("arms") or {}).get(arm) or {}).get("wall_seconds")
