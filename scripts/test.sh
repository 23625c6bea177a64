#!/usr/bin/env bash
# Runs every check CI runs: lint, types, architecture contracts, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
