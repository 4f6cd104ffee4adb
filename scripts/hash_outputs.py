"""Hashes of the plugin's outputs on fixed cases (factors, rates, YUV, cuts, tiles, detail, the paper's net):
a refactor must leave them bit-identical. Run before and after on one machine and compare:

    .venv/bin/python scripts/hash_outputs.py > before.json     # (then, after the change)
    .venv/bin/python scripts/hash_outputs.py | diff before.json -

Hashes depend on torch's version and the CPU's kernels, so only runs on one machine compare."""
import hashlib, json, sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests"))
import numpy as np
import vapoursynth as vs
from helpers import moving_frames, clip_from_frames
core = vs.core
core.num_threads = 2

def digest(clip):
    h = hashlib.sha256()
    for n in range(clip.num_frames):
        f = clip.get_frame(n)
        for p in range(f.format.num_planes):
            h.update(np.asarray(f[p]).tobytes())
        h.update(repr(sorted((k, str(v)) for k, v in f.props.items() if k.startswith(("_Dur", "_Scene", "ConvLSTM")))).encode())
    return f"{clip.num_frames}:{clip.fps}:" + h.hexdigest()[:16]

rgb = clip_from_frames(moving_frames(96, 64, 8, speed=5))
cut_frames = moving_frames(96, 64, 8, speed=5)
for k in range(4, 8):
    cut_frames[k] = 255 - cut_frames[k]
cut = clip_from_frames(cut_frames)
yuv = rgb.resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
yuv10 = rgb.resize.Bicubic(format=vs.YUV422P10, matrix_s="709")
I = core.convlstm.Interpolate
cases = {
    "rgb_2x": lambda: I(rgb),
    "rgb_3x": lambda: I(rgb, factor=3),
    "rgb_5_2": lambda: I(rgb, factor_num=5, factor_den=2),
    "rgb_fps": lambda: I(rgb, fps_num=60000, fps_den=1001),
    "yuv420_2x": lambda: I(yuv),
    "yuv422p10_4x": lambda: I(yuv10, factor=4),
    "cut_2x": lambda: I(cut),
    "detail0": lambda: I(rgb, detail=0.0),
    "tile64": lambda: I(rgb, tile=64),
    "paper_4x": lambda: I(rgb, weights="paper", factor=4),
    "paper_fps": lambda: I(rgb, weights="paper", fps_num=50, fps_den=1),
    "sc0": lambda: I(cut, sc_threshold=0.0),
}
out = {k: digest(f()) for k, f in cases.items()}
json.dump(out, sys.stdout, indent=1)
