"""`--embedder` reaches every command that opens memory: rows it embedded are never re-embedded by solve, trace or doctor.

Opening the stores with another embedder than the rows' re-embeds every row with it
(and rewrites the rows' fingerprint), so an unchanged fingerprint after each command
shows that the command used the configured embedder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.cli import main
from agent.controller.state import Trace
from memory import Episode, Subroutine, open_memory
from memory.db import make_engine
from memory.models import SubroutineRow
from retrieval.embedder import Embedder, default_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes import ScriptedGenerator


@pytest.fixture
def other_embedder(tmp_path: Path) -> Path:
    """The embedded model under another directory name: another fingerprint, same weights."""
    copy = tmp_path / "minilm-copy"
    copy.mkdir()
    for item in default_model_dir().iterdir():
        (copy / item.name).symlink_to(item)
    return copy


def _fingerprints(home: Path) -> set[str]:
    engine = make_engine(f"sqlite:///{home / 'mnemos.db'}")
    try:
        with engine.connect() as conn:
            return set(conn.scalars(select(SubroutineRow.embedder)))
    finally:
        engine.dispose()


def test_embedder_flag_reaches_solve_trace_and_doctor(tmp_path, other_embedder, monkeypatch, capsys):
    import agent.engine

    home = tmp_path / "home"
    configured = Embedder(other_embedder)
    assert configured.fingerprint != Embedder().fingerprint
    with open_memory(f"sqlite:///{home / 'mnemos.db'}", home / "indexes", configured) as m:
        m.subroutines.add(Subroutine(question="How do I add two numbers?", procedure="sum them", domain="math"))
        episode = m.episodes.add(Episode(problem_id="p", input="1+1", trace=Trace(problem_id="p").model_dump(mode="json")))
    flags = ["--home", str(home), "--embedder", str(other_embedder)]

    assert main([*flags, "trace", "show", str(episode.id)]) == 0
    assert _fingerprints(home) == {configured.fingerprint}

    main([*flags, "doctor", "--quick"])
    assert "[ ok ] memory store: 0 concepts, 1 subroutines" in capsys.readouterr().out
    assert _fingerprints(home) == {configured.fingerprint}

    monkeypatch.setattr(agent.engine.Engine, "from_settings",
                        classmethod(lambda cls, s, **kw: ScriptedGenerator(lambda prompt, params: "<answer>2</answer>")))
    args = [*flags, "--memory-mode", "frozen", "solve", "math", "--generate", "1", "--run-id", "e", "--no-progress",
            "--concurrency", "1"]
    assert main(args) == 0, capsys.readouterr().err
    assert _fingerprints(home) == {configured.fingerprint}
