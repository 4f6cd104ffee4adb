"""Runs Interpolate cases outside the test process and answers each with one JSON line:
{"ok": ...}, {"error": ...} or {"invalid_case": ...}.

``fuzz_runner.py --serve`` is the long-lived worker test_robustness.py keeps: one case per stdin line,
one ANSWER line per case on stdout (paying Python's and torch's start-up once, not per case); a crash,
hang or abort in native code still shows up as a dead or silent process, not as a dead test run, and the
tests start a new worker after one. ``fuzz_runner.py CASE_JSON`` runs a single case, to reproduce one.
"""
import json
import os
import sys

import numpy as np
import vapoursynth as vs


def make_clip(case):
    core = vs.core
    fmt = getattr(vs, case["format"])
    w, h, n = case["width"], case["height"], case["length"]
    clip = core.std.BlankClip(width=w, height=h, format=fmt, length=n, color=None, keep=False)
    if case.get("moving"):   # frames that differ (a still window would be copied, never converted)
        f = clip.format
        peak = 1.0 if f.sample_type == vs.FLOAT else (1 << f.bits_per_sample) - 1
        clip = core.std.Splice([core.std.BlankClip(clip, length=1, color=[peak * (k + 1) / (n + 2)] +
                                                   [peak / 2 if f.color_family == vs.YUV and f.sample_type == vs.INTEGER
                                                    else 0.0] * (f.num_planes - 1)) for k in range(n)])
    if clip.format.sample_type == vs.INTEGER:
        clip = core.std.Expr(clip, "X Y + 7 * " + str((1 << clip.format.bits_per_sample) - 1) + " %") \
            if case.get("texture") else clip
    if case.get("variable") == "format":
        other = core.std.BlankClip(width=w, height=h, format=vs.RGB48, length=n)
        clip = core.std.Splice([clip, other], mismatch=True)
    elif case.get("variable") == "size":
        other = core.std.BlankClip(width=w + 2, height=h + 2, format=fmt, length=n)
        clip = core.std.Splice([clip, other], mismatch=True)
    if case.get("props"):   # frame props as an upstream filter might set them, in range or not
        def stamp(n, f, props=case["props"]):
            f = f.copy()
            for key, value in props.items():
                f.props[key] = value
            return f
        clip = core.std.ModifyFrame(clip, clip, stamp)
    return clip


ANSWER = "FUZZ-ANSWER "


def run(case):
    if case.get("abort"):   # the harness's own test: a native crash kills the process
        os.abort()
    try:
        clip = make_clip(case)
    except vs.Error as exc:  # the case itself is impossible (e.g. odd size for 4:2:0): nothing to test
        return {"invalid_case": str(exc)}
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
        return {"ok": True, "frames": out.num_frames, "fps": str(out.fps), "checked": checked}
    except vs.Error as exc:
        return {"error": str(exc), "kind": "vs.Error"}
    except (TypeError, ValueError) as exc:  # the vapoursynth binding refusing a Python value for the signature
        return {"error": str(exc), "kind": type(exc).__name__}


def main():
    if sys.argv[1:] != ["--serve"]:
        print(ANSWER + json.dumps(run(json.loads(sys.argv[1]))), flush=True)
        return
    print(ANSWER + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(ANSWER + json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
