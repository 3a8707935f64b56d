#!/usr/bin/env bash
# GPU proof (issue 7): bf16 LoRA, QLoRA 4-bit on the GPU, AWQ export and (if installed) vLLM serving,
# printed as a table and written to bench/GPU.md, then the GPU tests (tests/gpu). Needs an NVIDIA GPU;
# at most 8 minutes for the table and 15 for the tests.
#   bash bench/gpu_check.sh            # uses .venv (./yichuidingyin.sh sets it up) or, failing that, python3
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
timeout 480 "$PY" bench/gpu_check.py || status=$?
# Tokens/s with and without each fast path (fp32, bf16, Liger, flash-attention + packing): about 4 minutes.
timeout 300 "$PY" bench/gpu_speed.py || status=$?
# The same paths as pass/fail tests (tests/gpu, marker gpu; they skip themselves without CUDA): about 5 minutes.
timeout 900 "$PY" -m pytest -q -m gpu tests/gpu -p no:cacheprovider || status=$?
exit "$status"
