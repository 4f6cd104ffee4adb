"""dedup: repeated frames (animation on twos, stalled captures) become motion at their true place.

The schedule is checked as arithmetic; the filter with the bundled model on a synthetic square whose
motion per output frame is measured, through the real plugin."""
from fractions import Fraction

import numpy as np
import pytest
import vapoursynth as vs

from helpers import clip_from_frames, moving_frames, planes_of
from convlstm.errors import InterpolateError
from convlstm.evaluate.held import held_index
from convlstm.filter.repeats import MAX_RUN, RepeatLog, frame_difference
from convlstm.filter.schedule import Deduped, Timed

core = vs.core
W, H, SPEED = 96, 64, 4


class Known:
    """Repeat decisions given as a list (the filter measures them; here they are the test's)."""

    def __init__(self, repeats):
        self.repeats = repeats

    def is_repeat(self, j):
        return self.repeats[j]


def deduped(repeats, ratio=Fraction(2)):
    return Deduped(Timed(ratio, len(repeats)), Known(repeats), MAX_RUN)


def positions(schedule):
    """Each output's place on the source clock as the net sees it: sample + t * (next sample - sample)."""
    out = []
    for m in range(schedule.num_frames):
        frames, t = schedule.keys(m)
        out.append(frames[0] if len(frames) == 1 else frames[1] + t * (frames[2] - frames[1]))
    return out


def test_on_twos_and_threes_every_output_lies_at_its_own_time():
    for step in (2, 3):
        repeats = [j % step != 0 for j in range(12)]
        s = deduped(repeats)
        last_sample = 12 - 1 - (12 - 1) % step           # the last picture is held to the end: kept still
        for m, p in enumerate(positions(s)):
            if Fraction(m, 2) <= last_sample:
                assert p == Fraction(m, 2), (step, m, p)
        assert s.repeat_mark(2 * 1) == 1 and s.repeat_mark(0) == 0


def test_without_repeats_it_is_the_plain_schedule():
    s, plain = deduped([False] * 9, Fraction(5, 2)), Timed(Fraction(5, 2), 9)
    for m in range(s.num_frames):
        assert s.plan(m)[:4] == plain.plan(m) and s.time(m) == plain.time(m)
        assert s.first_since_source(m) == plain.first_since_source(m)
        assert s.last_before_next_source(m) == plain.last_before_next_source(m)


def test_a_long_hold_stays_still_and_its_frames_pass_through():
    repeats = [False] + [False, True, False] + [True] * (MAX_RUN + 1) + [False, False]  # frames 4..9: one picture
    s = deduped(repeats)
    for i in range(3, 3 + MAX_RUN + 2):
        assert s.plan(2 * i) == (i,), i                   # each frame of the hold is a sample
        assert s.repeat_mark(2 * i) == (2 if i > 3 else 0)
    assert s.plan(2 * 2) != (2,) and s.repeat_mark(4) == 1     # frame 2, a short repeat, is made


def test_a_run_at_the_end_of_the_clip_is_held():
    s = deduped([False, False, False, True])
    assert s.plan(6) == (3,) and s.repeat_mark(6) == 2


def test_slower_and_fractional_rates_keep_the_frame_count():
    repeats = [j % 2 == 1 for j in range(20)]
    for ratio in (Fraction(1, 2), Fraction(5, 2), Fraction(3)):
        s, plain = deduped(repeats, ratio), Timed(ratio, 20)
        assert s.num_frames == plain.num_frames and s.duration_divisor == plain.duration_divisor
        for m in range(s.num_frames):
            frames = s.plan(m)
            assert len(frames) in (1, 5) and all(0 <= f < 20 for f in frames)


def test_frame_difference_sees_a_small_moving_part_and_not_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(40, 200, (3, 64, 96)).astype(np.uint8)
    noisy = np.clip(a + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    moved = a.copy()
    moved[:, 10:18, 20:28] = 255 - moved[:, 10:18, 20:28]     # an 8x8 part changes: a blink, a cursor
    assert frame_difference(a, noisy, 255) < 0.03 < frame_difference(a, moved, 255)
    log = RepeatLog(3, 0.03)
    assert log.unknown(0, 5) == [1, 2]
    log.record(1, 0.01)
    assert log.unknown(0, 5) == [2] and log.is_repeat(1)


def square_x(frame: vs.VideoFrame) -> float:
    """The bright square's centre (the scene's texture stays below 200 in plane 0)."""
    bright = np.asarray(frame[0]) > 200
    return float(np.nonzero(bright)[1].mean())


def ontwos(step=2, length=14, speed=SPEED):
    full = moving_frames(W, H, length + 3, speed=speed)[3:]     # the square whole from the first frame
    return full, [full[k - k % step] for k in range(length)]


@pytest.mark.slow      # the daily loop keeps the schedule's arithmetic and the bit-identity test below
@pytest.mark.parametrize("step, speed", [(2, 4), (3, 3)])
def test_motion_on_twos_and_threes_comes_out_evenly_spaced(step, speed):
    """With dedup the square moves the same distance every output frame; without, it jumps and stops."""
    _, held = ontwos(step, speed=speed)
    clip = clip_from_frames(held)
    out = core.convlstm.Interpolate(clip, dedup=1, device="cpu")
    plain = core.convlstm.Interpolate(clip, device="cpu")
    last = 2 * (len(held) - 1 - (len(held) - 1) % step)        # outputs up to the last new picture
    xs = np.array([square_x(out.get_frame(m)) for m in range(last + 1)])
    steps = np.diff(xs)
    # speed / 2 px per output frame, each one, within the model's error on 8-9 px between samples
    assert np.allclose(steps, speed / 2, atol=0.4 * speed) and abs(steps.mean() - speed / 2) < 0.1, steps
    plain_steps = np.diff([square_x(plain.get_frame(m)) for m in range(last + 1)])
    assert plain_steps.min() < 0.3 and plain_steps.max() > speed - 0.5   # the stops and jumps dedup removes
    assert steps.std() < plain_steps.std() / 3
    made = out.get_frame(2)                                      # source frame 1: a repeat, made anew
    assert made.props["ConvLSTMInterpolated"] == 1 and made.props["ConvLSTMRepeat"] == 1
    assert out.get_frame(0).props["ConvLSTMRepeat"] == 0 and "ConvLSTMRepeat" not in plain.get_frame(2).props


def test_a_still_shot_stays_still_and_its_frames_pass_through():
    frames = moving_frames(W, H, 4) + [moving_frames(W, H, 5)[4]] * 8
    out = core.convlstm.Interpolate(clip_from_frames(frames), dedup=1, device="cpu")
    for m in range(10, out.num_frames):
        f = out.get_frame(m)
        assert np.array_equal(planes_of(f), frames[4]), m
    assert out.get_frame(12).props["ConvLSTMRepeat"] == 2 and out.get_frame(12).props["ConvLSTMInterpolated"] == 0


@pytest.mark.parametrize("mode", ["blend", "repeat"])
def test_a_cut_inside_a_run_of_repeats_is_not_crossed(mode):
    """A A A | B B B: the run before the cut shows A (no blend with B) up to its last frame; only the new
    frame between that and B is the cut's (sc_mode), as it would be without dedup."""
    a = moving_frames(W, H, 1)[0]
    b = (255 - a).astype(np.uint8)
    frames = [a, a, a, b, b, b, b + 0]
    out = core.convlstm.Interpolate(clip_from_frames(frames), dedup=1, device="cpu", sc_mode=mode)
    for m in range(0, 5):
        assert np.array_equal(planes_of(out.get_frame(m)), a), m
    at_cut = planes_of(out.get_frame(5))
    assert np.array_equal(at_cut, a if mode == "repeat" else (a.astype(int) + b + 1) // 2)
    assert out.get_frame(5).props.get("_SceneChangeNext") == 1


def rate_props(clip):
    return [(f.props.get("_DurationNum"), f.props.get("_DurationDen"), f.props.get("ConvLSTMInterpolated"))
            for f in clip.frames()]


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{"factor": 3}, {"factor_num": 5, "factor_den": 2},
                                    {"fps_num": 60000, "fps_den": 1001}, {"fps_num": 12000, "fps_den": 1001}])
def test_every_rate_change_keeps_the_timing_of_the_same_call_without_dedup(kwargs):
    _, held = ontwos(length=10)
    clip = clip_from_frames(held)
    out = core.convlstm.Interpolate(clip, dedup=1, device="cpu", **kwargs)
    plain = core.convlstm.Interpolate(clip, device="cpu", **kwargs)
    assert (out.num_frames, out.fps) == (plain.num_frames, plain.fps)
    assert [p[:2] for p in rate_props(out)] == [p[:2] for p in rate_props(plain)]


@pytest.mark.slow
def test_variable_durations_are_those_of_the_frame_at_each_output_time():
    """A made frame takes its props from the source frame at its time (the fifth planned frame), as it
    would without dedup, not from the sample it is made from."""
    _, held = ontwos(length=8)
    clip = clip_from_frames(held, fpsnum=0, fpsden=1)

    def durations(n, f):
        g = f.copy()
        g.props["_DurationNum"], g.props["_DurationDen"] = 1, 20 + n
        return g
    vfr = core.std.ModifyFrame(clip, clip, durations)
    out = core.convlstm.Interpolate(vfr, dedup=1, device="cpu")
    plain = core.convlstm.Interpolate(vfr, device="cpu")
    assert [p[:2] for p in rate_props(out)] == [p[:2] for p in rate_props(plain)]
    assert rate_props(out)[2] == (1, 42, 1) and rate_props(plain)[2] == (1, 42, 0)   # made anew from 0 and 2


@pytest.mark.slow
def test_off_by_default_and_deterministic_across_threads():
    _, held = ontwos(length=8)
    clip = clip_from_frames(held)
    default = [planes_of(f) for f in core.convlstm.Interpolate(clip, device="cpu").frames()]
    off = [planes_of(f) for f in core.convlstm.Interpolate(clip, dedup=0, device="cpu").frames()]
    assert all(np.array_equal(a, b) for a, b in zip(default, off))
    results = []
    for threads in (1, 3):
        old, core.num_threads = core.num_threads, threads
        try:
            out = core.convlstm.Interpolate(clip_from_frames(held), dedup=1, device="cpu")
            order = np.random.default_rng(threads).permutation(out.num_frames)   # any request order
            got = {int(n): planes_of(out.get_frame(int(n))) for n in order}
            results.append([got[n] for n in range(out.num_frames)])
        finally:
            core.num_threads = old
    assert all(np.array_equal(a, b) for a, b in zip(*results))


def test_repeats_under_compression_noise_are_found():
    _, held = ontwos(length=8)
    rng = np.random.default_rng(1)
    noisy = [np.clip(f.astype(int) + rng.integers(-2, 3, f.shape), 0, 255).astype(np.uint8) for f in held]
    out = core.convlstm.Interpolate(clip_from_frames(noisy), dedup=1, device="cpu")
    assert [out.get_frame(2 * j).props["ConvLSTMRepeat"] for j in range(6)] == [0, 1, 0, 1, 0, 1]
    strict = core.convlstm.Interpolate(clip_from_frames(noisy), dedup=1, dedup_threshold=0.0, device="cpu")
    assert all(strict.get_frame(2 * j).props["ConvLSTMRepeat"] == 0 for j in range(6))


def test_refusals_name_the_fix(test_weights):
    clip = clip_from_frames(moving_frames(W, H, 4))
    with pytest.raises(vs.Error, match="dedup.*any time position.*leave weights unset"):
        core.convlstm.Interpolate(clip, dedup=1, weights=str(test_weights))
    with pytest.raises(vs.Error, match="dedup_threshold only applies with dedup=1"):
        core.convlstm.Interpolate(clip, dedup_threshold=0.1)
    with pytest.raises(vs.Error, match=r"dedup_threshold must be in \[0, 1\]"):
        core.convlstm.Interpolate(clip, dedup=1, dedup_threshold=2.0)
    with pytest.raises(InterpolateError, match="dedup must be 0 or 1"):
        from convlstm.options import Options
        Options(dedup=3)


def test_held_patterns_for_the_evaluation():
    assert held_index(7, "twos") == [0, 0, 2, 2, 4, 4, 6]
    assert held_index(7, "threes") == [0, 0, 0, 3, 3, 3, 6]
    drops = held_index(101, "drops")
    assert drops == held_index(101, "drops") and sum(d != k for k, d in enumerate(drops)) == 10
    assert all(d == k or d == drops[k - 1] for k, d in enumerate(drops))


def test_at_a_repeat_the_made_frame_is_the_one_the_full_rate_clip_would_give():
    """A clip on twos made from a full-rate one: where it repeats a frame, dedup makes exactly (bit for bit)
    the frame that interpolating the full-rate clip's other frames gives there: the evaluation protocol's
    prediction of the frame that was lost."""
    full = moving_frames(W, H, 15, speed=3)
    held = [full[k - k % 2] for k in range(15)]
    out = core.convlstm.Interpolate(clip_from_frames(held), dedup=1, device="cpu")
    protocol = core.convlstm.Interpolate(clip_from_frames(full[0::2]), device="cpu")   # even in, odd made
    for i in range(1, 13, 2):
        made = out.get_frame(2 * i)
        assert made.props["ConvLSTMRepeat"] == 1
        assert np.array_equal(planes_of(made), planes_of(protocol.get_frame(i))), i
