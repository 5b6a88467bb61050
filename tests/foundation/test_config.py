from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import Settings


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings()
    assert s.home == tmp_path / "mnemos-home"  # from MNEMOS_HOME set by conftest
    assert s.db_url == f"sqlite:///{s.home / 'mnemos.db'}"
    assert s.index_dir == s.home / "indexes"
    assert s.model is None and s.memory_mode == "learning" and s.kv_policy == "full"


def test_xdg_default_without_mnemos_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MNEMOS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().home == tmp_path / "xdg" / "mnemos"


def test_precedence_file_env_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('max_tokens = 111\ntemperature = 0.5\nmemory_mode = "frozen"\n')
    monkeypatch.setenv("MNEMOS_TEMPERATURE", "0.7")
    s = Settings.load(cfg, memory_mode="off", max_model_len=None)
    assert s.max_tokens == 111  # file
    assert s.temperature == 0.7  # env beats file
    assert s.memory_mode == "off"  # flag beats both
    assert s.max_model_len == 4096  # None flag means "not given"


def test_config_in_home_is_read(tmp_path: Path) -> None:
    home = tmp_path / "mnemos-home"
    home.mkdir()
    (home / "config.toml").write_text("max_segments = 3\n")
    assert Settings().max_segments == 3


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="memory_mode"):
        Settings(memory_mode="sometimes")
    with pytest.raises(ValidationError, match="max_model_len"):
        Settings(max_model_len=0)
    with pytest.raises(ValidationError, match="no_such_field"):
        Settings(no_such_field=1)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Settings.load(tmp_path / "missing.toml")
