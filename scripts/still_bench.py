"""Time the filter on a still 640x360 clip (a title card): what the still-window shortcut saves.

Run twice, with PYTHONPATH at the code before and after, labelled by the first argument."""
import time, sys
import vapoursynth as vs
core = vs.core
core.num_threads = 2
src = core.std.BlankClip(format=vs.YUV420P8, width=640, height=360, length=12, color=[90, 120, 140])
src = core.std.AddBorders(core.std.Crop(src, left=8), left=8, color=[200, 128, 128])  # a title card: still
out = core.convlstm.Interpolate(src, device="cpu")
t = time.perf_counter()
for n in range(out.num_frames):
    out.get_frame(n)
dt = time.perf_counter() - t
print(f"{sys.argv[1]}: {out.num_frames} frames of a still 640x360 clip in {dt:.2f} s ({out.num_frames/dt:.1f} fps)")
