import json
from pathlib import Path

import pytest

from agent import embedded
from agent.embedded import ModelError, check_checkpoint, convert_embedded, is_converted, resolve_model


def make_checkpoint(path: Path, **config: object) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], **config}))
    (path / "model.safetensors").write_bytes(b"\0")
    return path


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("x"), "not a directory"),
        (lambda p: p.mkdir(), "no config.json"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text("{oops")), "unreadable config.json"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text("{}")), "no weight files"),
    ],
)
def test_bad_model_paths_name_the_problem(tmp_path: Path, setup, message: str) -> None:
    target = tmp_path / "model"
    setup(target)
    with pytest.raises(ModelError, match=message):
        check_checkpoint(target)


def test_user_checkpoint_is_used_as_is(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt")
    assert resolve_model(ckpt, tmp_path / "cache") == ckpt
    assert not (tmp_path / "cache").exists()


def fake_writer(calls: list[Path]):
    def write(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"\0")

    return write


def test_conversion_runs_once_then_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    monkeypatch.setattr(embedded, "embedded_gguf", lambda: tmp_path / "m.gguf")
    first = resolve_model(None, tmp_path / "cache")
    second = resolve_model(None, tmp_path / "cache")
    assert first == second == embedded.converted_dir(tmp_path / "cache")
    assert len(calls) == 1 and is_converted(first)


def test_interrupted_conversion_leaves_nothing_loadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies_halfway(gguf: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_write_checkpoint", dies_halfway)
    target = embedded.converted_dir(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        convert_embedded(target, gguf=tmp_path / "m.gguf")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # temp dir cleaned up too

    calls: list[Path] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    monkeypatch.setattr(embedded, "embedded_gguf", lambda: tmp_path / "m.gguf")
    assert is_converted(resolve_model(None, tmp_path / "cache"))


def test_unmarked_leftover_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = embedded.converted_dir(tmp_path / "cache")
    make_checkpoint(target)  # looks like a checkpoint, but no completion marker
    calls: list[Path] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    monkeypatch.setattr(embedded, "embedded_gguf", lambda: tmp_path / "m.gguf")
    resolve_model(None, tmp_path / "cache")
    assert len(calls) == 1 and is_converted(target)


def test_missing_package_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="not installed"):
        embedded.package_dir("no_such_package_mnemos")


def test_embedded_gguf_is_shipped() -> None:
    assert embedded.embedded_gguf().suffix == ".gguf"


def test_context_larger_than_model_is_refused(tmp_path: Path) -> None:
    from agent.engine import Engine

    ckpt = make_checkpoint(tmp_path / "ckpt", max_position_embeddings=256)
    with pytest.raises(ModelError, match="exceeds the model's 256"):
        Engine(ckpt, max_model_len=1024)
