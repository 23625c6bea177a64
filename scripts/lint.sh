#!/usr/bin/env bash
# Static checks: ruff (style and bugs), mypy --strict (types), import-linter (layer rules).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
