#!/usr/bin/env bash
# Installs sesamedisk into .venv and starts it on the embedded default (SQLite + ./sesame-data).
# Extra arguments go to `sesame serve` (e.g. --port 8080 --data /srv/sesame).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap-venv.sh
exec .venv/bin/sesame serve "$@"
