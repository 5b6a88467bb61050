from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import Settings


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings()
    assert s.home == tmp_path / "mnemos-home"  # from MNEMOS_HOME set by conftest
    assert s.db_url == f"sqlite:///{s.home / 'mnemos.db'}"
    assert s.index_dir == s.home / "indexes"
    assert s.model == "qwen2.5-coder-1.5b" and s.memory_mode == "learning" and s.kv_policy == "full"


def test_xdg_default_without_mnemos_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MNEMOS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().home == tmp_path / "xdg" / "mnemos"


def test_precedence_file_env_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('max_tokens = 111\ntemperature = 0.5\nmemory_mode = "frozen"\nmax_model_len = 8192\n')
    monkeypatch.setenv("MNEMOS_TEMPERATURE", "0.7")
    s = Settings.load(cfg, memory_mode="off", max_model_len=None)
    assert s.max_tokens == 111  # file
    assert s.temperature == 0.7  # env beats file
    assert s.memory_mode == "off"  # flag beats both
    assert s.max_model_len == 8192  # a None flag means "not given": the file's value stays


def test_config_in_home_is_read(tmp_path: Path) -> None:
    home = tmp_path / "mnemos-home"
    home.mkdir()
    (home / "config.toml").write_text("[budgets]\nsegments = 3\nrecalls = 1\n")
    assert Settings().budgets.segments == 3


def test_budgets_nest_in_toml_env_and_keywords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[budgets]\nsegments = 3\nrecalls = 1\n")
    monkeypatch.setenv("MNEMOS_BUDGETS__RECALLS", "5")
    s = Settings.load(cfg)
    assert (s.budgets.segments, s.budgets.recalls, s.budgets.retries) == (3, 5, 2)  # file, env over file, default
    assert Settings(budgets={"retries": 0}).budgets.retries == 0
    with pytest.raises(ValidationError, match="max_segments"):
        Settings(max_segments=3)  # the old flat names are gone, not silently ignored
    with pytest.raises(ValidationError, match="budgets.recalls"):
        Settings(budgets={"recalls": -1})


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="memory_mode"):
        Settings(memory_mode="sometimes")
    with pytest.raises(ValidationError, match="max_model_len"):
        Settings(max_model_len=0)
    with pytest.raises(ValidationError, match="no_such_field"):
        Settings(no_such_field=1)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Settings.load(tmp_path / "missing.toml")
