#!/usr/bin/env bash
# The test command (README, .ci/run): the whole pytest suite against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"
