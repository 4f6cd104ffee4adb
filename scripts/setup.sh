#!/usr/bin/env bash
# One-time set-up on a fresh machine: a Python 3.12 venv in .venv with the package (plugin included)
# and everything the tests and tools use. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for cand in "${PYTHON:-}" python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "$cand" || echo "$cand"; return 0
    fi
  done
  return 1
}

PY=$(find_python) || { echo "setup: Python 3.12 is required (set PYTHON=/path/to/python3.12)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true
# A stale build/ would put modules that no longer exist into the wheel.
rm -rf build
# Build deps first (the plugin compiles against vapoursynth's bundled headers), then the package itself.
.venv/bin/python -m pip install -q vapoursynth "torch<=2.14.1" numpy pyyaml 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --no-build-isolation ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import convlstm, vapoursynth as vs; assert hasattr(vs.core, 'convlstm'), 'plugin not autoloaded'"
# vspipe needs to know which Python it embeds.
.venv/bin/vapoursynth config >/dev/null
echo "setup: ready (.venv, VapourSynth $(.venv/bin/python -c "import vapoursynth as vs; print(vs.__version__)"))"
