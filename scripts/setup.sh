#!/usr/bin/env bash
# Set up simgrade in ./.venv (idempotent: a second run only checks).
#   TORCH_SPEC  the torch requirement to install (default torch==2.13.0: a CUDA build from PyPI on
#               a Linux GPU machine, the CPU build where a local wheel or a CPU index provides it;
#               e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu" for CPU only).
#   PYTHON      the interpreter to build the venv from (default python3, must be >= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
stamp=.venv/.simgrade-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
        # shellcheck disable=SC2086
        .venv/bin/python -m pip install --quiet $TORCH_SPEC
    fi
    .venv/bin/python -m pip install --quiet --config-settings editable_mode=compat -e '.[test]'
    echo "$want" > "$stamp"
fi
# The sandbox that runs student code is bubblewrap; without it grading still works, unisolated.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
            || echo "setup: could not install bubblewrap; student code will run without isolation" >&2
    else
        echo "setup: bubblewrap (bwrap) not found; install it (apt-get install bubblewrap) for isolation" >&2
    fi
fi
