#!/usr/bin/env bash
# The main job (README): interpolates the bundled demo clip to 2x and writes the video and a side-by-side PNG
# into out/demo/ of the repository (out/ is ignored by git). On first use it sets .venv up (scripts/setup.sh
# --if-needed). Arguments go to `convlstm demo`: bash scripts/demo.sh --device cpu, --out DIR, --quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --if-needed
exec .venv/bin/convlstm demo --out out/demo "$@"
