#!/usr/bin/env bash
# Creates .venv with sesamedisk installed (plus extras given as $1, e.g. "test").
# Installs Debian's python3-venv first when this Python cannot make a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv python3-dev gcc
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    if [ -n "$extras" ]; then
        .venv/bin/python -m pip install -q -e ".[$extras]"
    else
        .venv/bin/python -m pip install -q -e .
    fi
    touch "$stamp"
fi
