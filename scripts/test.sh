#!/usr/bin/env bash
# The whole check: lint, format, types, tests (incl. doctests). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"; ruff check src tests bench scripts
echo "== ruff format"; ruff format --check src tests bench scripts
echo "== mypy --strict"; mypy --strict src
echo "== pytest"
python -m pytest tests src/runid --doctest-modules --ignore=src/runid/__main__.py --ignore=tests/vectors "$@"
