"""Runs one Interpolate case in its own process and prints one JSON line: {"ok": ...} or {"error": ...}.

Used by test_robustness.py so that a crash, hang or abort in native code shows up as a dead process,
not as a dead test run.
"""
import json
import sys

import numpy as np
import vapoursynth as vs


def make_clip(case):
    core = vs.core
    fmt = getattr(vs, case["format"])
    w, h, n = case["width"], case["height"], case["length"]
    clip = core.std.BlankClip(width=w, height=h, format=fmt, length=n, color=None, keep=False)
    if clip.format.sample_type == vs.INTEGER:
        clip = core.std.Expr(clip, "X Y + 7 * " + str((1 << clip.format.bits_per_sample) - 1) + " %") \
            if case.get("texture") else clip
    if case.get("variable") == "format":
        other = core.std.BlankClip(width=w, height=h, format=vs.RGB48, length=n)
        clip = core.std.Splice([clip, other], mismatch=True)
    elif case.get("variable") == "size":
        other = core.std.BlankClip(width=w + 2, height=h + 2, format=fmt, length=n)
        clip = core.std.Splice([clip, other], mismatch=True)
    return clip


def main():
    case = json.loads(sys.argv[1])
    try:
        clip = make_clip(case)
    except vs.Error as exc:  # the case itself is impossible (e.g. odd size for 4:2:0): nothing to test
        print(json.dumps({"invalid_case": str(exc)}))
        return
    try:
        out = vs.core.convlstm.Interpolate(clip, **case.get("args", {}))
        checked = []
        for n in sorted({0, 1, out.num_frames - 1, out.num_frames // 2}):
            if 0 <= n < out.num_frames:
                f = out.get_frame(n)
                for p in range(f.format.num_planes):
                    a = np.asarray(f[p])
                    sw, sh = (f.format.subsampling_w, f.format.subsampling_h) if p else (0, 0)
                    assert a.shape == (out.height >> sh, out.width >> sw), (p, a.shape, out.height, out.width)
                    if f.format.sample_type == vs.FLOAT:
                        assert np.isfinite(a).all()
                checked.append(n)
        print(json.dumps({"ok": True, "frames": out.num_frames, "fps": str(out.fps), "checked": checked}))
    except vs.Error as exc:
        print(json.dumps({"error": str(exc), "kind": "vs.Error"}))
    except (TypeError, ValueError) as exc:  # the vapoursynth binding refusing a Python value for the signature
        print(json.dumps({"error": str(exc), "kind": type(exc).__name__}))


if __name__ == "__main__":
    main()
