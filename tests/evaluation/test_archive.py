"""Archives: an evaluation saved on one data directory resumes from another, without overwriting anything."""

from __future__ import annotations

import json
import tarfile

import pytest

from agent.cli import main
from agent.config import Settings
from agent.evaluation.archive import load_archive, save_archive
from agent.evaluation.snapshot import (
    arm_memory,
    create_snapshot,
    load_snapshot,
    memory_content,
    working_copy,
)
from memory.db import Database
from memory.episodes import EpisodeStore
from memory.schemas import Concept, Episode
from tests.controller.conftest import HashEncoder
from tests.evaluation.test_snapshot import _store


def _episodes(settings: Settings) -> dict[tuple[str, str], float]:
    db = Database(settings.db_url)
    try:
        store = EpisodeStore(db)
        return {(e.run_id, e.problem_id): e.score for r in store.runs() for e in store.list(run_id=r, limit=1000)}
    finally:
        db.dispose()


def _add(settings: Settings, run_id: str, scores: dict[str, float]) -> None:
    db = Database(settings.db_url)
    try:
        EpisodeStore(db).add_many([Episode(run_id=run_id, problem_id=p, input=p, score=s, answer=str(s),
                                           trace={"steps": [p]}) for p, s in scores.items()])
    finally:
        db.dispose()


@pytest.fixture
def source(tmp_path):
    settings = Settings(home=tmp_path / "a")
    _store(tmp_path / "trained", n_concepts=3).close()
    create_snapshot(tmp_path / "trained", settings.home, "e1-train", {"eval": "e1"})
    eval_dir = settings.runs_dir / "e1"
    eval_dir.mkdir(parents=True)
    (eval_dir / "split.json").write_text(json.dumps({"dev": ["p1", "p2", "p3"]}))
    (eval_dir / "setup.json").write_text(json.dumps({"model": "m"}))
    working_copy(settings.home, "e1-train", eval_dir / "learning-store")
    learned = arm_memory(eval_dir / "learning-store", episodes=None, encoder=HashEncoder(), settings=settings)
    learned.concepts.add_many([Concept(name="learned on dev", description="written by the learning arm")])
    learned.close()
    _add(settings, "e1-plain", {"p1": 1.0, "p2": 0.0})
    _add(settings, "e1-learning", {"p1": 1.0})
    _add(settings, "other-plain", {"p1": 0.0})
    return settings


def test_save_then_load_restores_the_evaluation_elsewhere(tmp_path, source):
    manifest = save_archive(source, "e1", tmp_path / "e1.tar.gz")
    assert manifest.episodes == {"e1-learning": 1, "e1-plain": 2}
    assert manifest.stores == ["learning-store"] and manifest.snapshots == ["e1-train"]

    target = Settings(home=tmp_path / "b")
    result = load_archive(target, tmp_path / "e1.tar.gz")
    assert result.episodes_added == 3 and result.episodes_kept == 0
    assert _episodes(target) == {("e1-plain", "p1"): 1.0, ("e1-plain", "p2"): 0.0, ("e1-learning", "p1"): 1.0}
    assert load_snapshot(target.home, "e1-train") == load_snapshot(source.home, "e1-train")
    theirs = source.runs_dir / "e1" / "learning-store" / "memory.db"
    ours = target.runs_dir / "e1" / "learning-store" / "memory.db"
    assert memory_content(ours) == memory_content(theirs)
    assert memory_content(ours)[0]["concepts"] == 4
    assert (target.runs_dir / "e1" / "split.json").read_text() == (source.runs_dir / "e1" / "split.json").read_text()
    working_copy(target.home, "e1-train", target.runs_dir / "e1" / "learning-store")  # the arm can resume on it

    again = load_archive(target, tmp_path / "e1.tar.gz")
    assert again.episodes_added == 0 and again.episodes_kept == 3 and again.restored == []


def test_load_never_overwrites_newer_local_progress(tmp_path, source):
    save_archive(source, "e1", tmp_path / "old.tar.gz")
    _add(source, "e1-plain", {"p3": 1.0})
    (source.runs_dir / "e1" / "setup.json").write_text(json.dumps({"model": "local"}))
    result = load_archive(source, tmp_path / "old.tar.gz")
    assert result.episodes_added == 0 and result.restored == []
    assert json.loads((source.runs_dir / "e1" / "setup.json").read_text()) == {"model": "local"}
    assert _episodes(source)[("e1-plain", "p3")] == 1.0


def test_a_different_snapshot_of_the_same_name_is_refused(tmp_path, source):
    save_archive(source, "e1", tmp_path / "e1.tar.gz")
    target = Settings(home=tmp_path / "b")
    _store(tmp_path / "other", n_concepts=7).close()
    create_snapshot(tmp_path / "other", target.home, "e1-train")
    with pytest.raises(ValueError, match="other memory"):
        load_archive(target, tmp_path / "e1.tar.gz")
    assert _episodes(target) == {}


def test_bad_archives_and_names_get_clear_errors(tmp_path, source):
    with pytest.raises(FileNotFoundError, match="no evaluation named 'nope'"):
        save_archive(source, "nope", tmp_path / "x.tar.gz")
    with pytest.raises(ValueError, match="bad snapshot name"):
        save_archive(source, "../e1", tmp_path / "x.tar.gz")
    stray = tmp_path / "stray.tar.gz"
    with tarfile.open(stray, "w:gz") as tar:
        tar.add(source.runs_dir / "e1" / "split.json", arcname="split.json")
    with pytest.raises(ValueError, match="not an evaluation archive"):
        load_archive(Settings(home=tmp_path / "b"), stray)


def test_cli_round_trip(tmp_path, source, capsys):
    archive = tmp_path / "e1.tar.gz"
    assert main(["--home", str(source.home), "archive", "save", "e1", str(archive)]) == 0
    assert "e1-plain 2" in capsys.readouterr().out
    assert main(["--home", str(tmp_path / "b"), "archive", "load", str(archive)]) == 0
    out = capsys.readouterr()
    assert "3 episodes added" in out.out and "--name e1" in out.err
