#!/usr/bin/env bash
# Set-up of .venv (Python 3.12): torch, VapourSynth, this package with its plugin (installed non-editable, as a
# user gets it: the plugin lands where VapourSynth autoloads it) and the test tools. Safe to run again.
#
#   bash scripts/setup.sh              the whole set-up
#   bash scripts/setup.sh --cpu        the same with torch's CPU build (no CUDA libraries, far smaller)
#   bash scripts/setup.sh --if-needed  what scripts/demo.sh and scripts/test.sh run first: the whole set-up when
#                                      .venv is missing or setup.sh, setup.py or pyproject.toml changed since
#                                      the last one; only the package reinstalled when core/ or plugin/ changed;
#                                      nothing otherwise. So the tests always run against the current sources.
#
# Which torch: --cpu, or when there is no nvidia-smi and https://download.pytorch.org/whl/cpu answers within
# a few seconds, the CPU build from there; otherwise PyPI's default build (on Linux x86-64 the CUDA one, several GB).
set -euo pipefail
cd "$(dirname "$0")/.."

CPU=0 IF_NEEDED=0
for arg in "$@"; do
  case "$arg" in
    --cpu) CPU=1 ;;
    --if-needed) IF_NEEDED=1 ;;
    *) echo "setup: unknown option $arg (known: --cpu, --if-needed)" >&2; exit 2 ;;
  esac
done

CPU_INDEX=https://download.pytorch.org/whl/cpu
TORCH="torch<=2.14.1"
STAMP=.venv/.setup-stamp   # "<hash of the set-up's inputs> <hash of the package's sources>" after a good set-up

tree_hash() {   # one hash of the files' names and contents (bytecode caches left out)
  find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum \
    | sha256sum | cut -c1-16
}
SETUP_HASH=$(tree_hash scripts/setup.sh setup.py pyproject.toml)
SOURCE_HASH=$(tree_hash core plugin)

# A registry's connection that drops mid-download (seen in CI: torch's 555 MB wheel cut at 114 MB six times in a
# row) is worth waiting out: pip resumes a cut download where its pip knows how, and a failed install that names
# the network is tried again after a pause. Any other failure is shown at once.
NETWORK_ERRORS='incomplete-download|Connection (interrupted|reset|aborted|refused)|Read timed out|ProtocolError|ConnectionError|Temporary failure in name resolution|HTTP error 5[0-9][0-9]|IncompleteRead'
PIP_ATTEMPTS=${PIP_ATTEMPTS:-4}

resume_option() {   # pip 25.1 and later resume a cut download; older ones refuse the option
  .venv/bin/python - <<'PY' 2>/dev/null && echo "--resume-retries=20" || true
import sys
from importlib.metadata import version
sys.exit(tuple(int(p) for p in version("pip").split(".")[:2]) < (25, 1))
PY
}

pip_quiet() {   # pip install -q, its output shown without the venv-location noise; fails when pip fails
  local out attempt
  for attempt in $(seq 1 "$PIP_ATTEMPTS"); do
    if out=$(.venv/bin/python -m pip install -q $(resume_option) "$@" 2>&1); then
      if [ -n "$out" ]; then printf '%s\n' "$out" | grep -v "^WARNING: Location" || true; fi
      return 0
    fi
    if [ "$attempt" -lt "$PIP_ATTEMPTS" ] && printf '%s\n' "$out" | grep -Eq "$NETWORK_ERRORS"; then
      echo "setup: the download broke off ($(printf '%s\n' "$out" | grep -Eo "$NETWORK_ERRORS" | head -1)); \
trying again in $((attempt * 30)) s (attempt $((attempt + 1)) of $PIP_ATTEMPTS)" >&2
      sleep $((attempt * 30))
      continue
    fi
    printf '%s\n' "$out" | grep -v "^WARNING: Location" >&2
    return 1
  done
}

install_package() {   # the package and its plugin, non-editable; $@: what to install, with pip options
  rm -rf build   # a stale build/ would put modules that no longer exist into the wheel
  pip_quiet --no-build-isolation "$@"
  .venv/bin/python -c "import convlstm, vapoursynth as vs; assert hasattr(vs.core, 'convlstm'), 'plugin not autoloaded'"
}

if [ "$IF_NEEDED" = 1 ] && [ -f "$STAMP" ] && .venv/bin/python -c "" 2>/dev/null; then
  read -r old_setup old_source < "$STAMP" || true
  if [ "${old_setup:-}" = "$SETUP_HASH" ]; then
    [ "${old_source:-}" = "$SOURCE_HASH" ] && exit 0
    echo "setup: core/ or plugin/ changed since the last install: reinstalling the package into .venv"
    install_package --no-deps .
    echo "$SETUP_HASH $SOURCE_HASH" > "$STAMP"
    exit 0
  fi
  echo "setup: setup.sh, setup.py or pyproject.toml changed since the last set-up: running it again"
elif [ "$IF_NEEDED" = 1 ]; then
  echo "setup: no record of a finished set-up in .venv: running it (the first time takes several minutes)"
fi

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
if ! .venv/bin/python -c "" 2>/dev/null; then
  "$PY" -m venv --clear .venv
fi
rm -f "$STAMP"
pip_quiet --upgrade pip setuptools wheel || echo "setup: pip, setuptools and wheel not upgraded (going on)" >&2

if [ "$CPU" = 0 ] && ! command -v nvidia-smi >/dev/null 2>&1 \
   && timeout 8 "$PY" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/', timeout=5)" 2>/dev/null; then
  CPU=1
  why="no nvidia-smi on this machine"
fi
if [ "$CPU" = 1 ]; then
  echo "setup: torch: the CPU build from $CPU_INDEX (${why:-asked for with --cpu})"
  pip_quiet "$TORCH" --index-url "$CPU_INDEX"
else
  if command -v nvidia-smi >/dev/null 2>&1; then why="nvidia-smi found"; else why="$CPU_INDEX not reachable"; fi
  echo "setup: torch: PyPI's build ($why; on Linux x86-64 it carries the CUDA libraries, several GB; --cpu avoids them)"
fi
# Build deps first (the plugin compiles against vapoursynth's bundled headers), then the package itself.
echo "setup: vapoursynth, numpy, pyyaml, then the package with its [dev] extras (tests, peers, Ray, wheel tools)"
pip_quiet vapoursynth "$TORCH" numpy pyyaml
install_package ".[dev]"
.venv/bin/vapoursynth config >/dev/null   # vspipe needs to know which Python it embeds
echo "$SETUP_HASH $SOURCE_HASH" > "$STAMP"
echo "setup: ready (.venv: VapourSynth $(.venv/bin/python -c "import vapoursynth as vs; print(vs.__version__)"), \
torch $(.venv/bin/python -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda or 'none')"))"
