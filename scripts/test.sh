#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, Python packages) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
exec .venv/bin/python -m pytest "$@"
