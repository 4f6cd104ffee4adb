#!/usr/bin/env bash
# The test command (README, .ci/run): the whole pytest suite against the installed package. On first use, or
# after a change to core/, plugin/ or the set-up, it sets .venv up first (scripts/setup.sh --if-needed), so the
# suite always tests the current sources. Arguments go to pytest: bash scripts/test.sh -m "not slow" (daily loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --if-needed
exec .venv/bin/python -m pytest -q "$@"
