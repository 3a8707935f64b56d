#!/usr/bin/env bash
# GPU proof (issue 7): bf16 LoRA, QLoRA 4-bit on the GPU, AWQ export and (if installed) vLLM serving,
# printed as a table and written to bench/GPU.md. Needs an NVIDIA GPU; at most 8 minutes.
#   bash bench/gpu_check.sh            # uses .venv (./yichuidingyin.sh sets it up) or, failing that, python3
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout 480 "$PY" bench/gpu_check.py
