"""The safety net: where the motion cannot be trusted, the made frame falls back smoothly toward the
time-weighted average of the compensated I2 and I3 (issue 28 item 3; what SVPFlow's masks and mvtools'
``ml`` do for theirs).

Not learned: a rule on top of the trained net, from what the motion stage already has, the four frames as
they came (``frames``) and as the net saw them, brought to time t (``moved``). Luma, means over a
TRUST_BLOCK window, on [0, 1]:

- U = |I2 - I3|: what blending would blur. Where it is small (below UNCHANGED_LEVELS) the blend is as good
  as anything and nothing falls back: the net's frame keeps its detail (a still background's grain).
- D = |I2' - I3'| (the compensated pair): the motion should have made them agree. D / U near 0: it did.
  Near 1 or above: the vectors explain nothing the blend does not (a texture that changes rather than
  moves, water, flicker; a shape that appears; vectors that bent a still outline).
- O = the better of |I1' - I2'| and |I3' - I4'| (the frames the search did not use): at an occlusion, one
  side sees what the other cannot, and that side agrees; the net is trained for those, so a disagreeing
  middle pair with one agreeing side is not a failure. O / U near 0: one side bears the motion out.

The failure measure is the product of the three ramps (each 0 below its low end, 1 above its high end), so
a pixel falls back only where all three say so; then only where it fills a FAILURE_AREA square (an opening:
the least over the square, then the most): a texture that changes (water, foliage, smoke) fills areas,
while along a motion boundary the middle pair and one outer side can disagree in a band a few px wide that
the net handles (a disc passing over a cup's rim lost 0.3 dB where that band fell back). trust = 1 -
failure, spread by a TRUST_SMOOTH box so that the fallback has no seam. The thresholds were chosen on
held-out material only (synthetic water, a disc rotating in place, a textured object crossing a textured
background, icons appearing, and two real held-out clips; never the evaluation clips): docs/results.md,
"The safety net".

What it falls back to is the compensated pair's time-weighted average, (1 - t) I2' + t I3', not the net's
frame and not the plain blend: where the pair disagree and no outer side bears the motion out, the net,
trained on motion its frames explain, paints a texture of its own (on rendered water a held-out clip's
frames lost 0.3-0.6 dB to the plain average of the compensated pair, row band by row band), and the
average of two equally likely pictures is the least-squares answer. Where the vectors themselves are
doubted, the compensated frames are already the plain ones (``Net.compensate`` mixes them by
``motion.confidence``), so the average is the plain blend there.

Apart from the safety net and always: where I2 and I3 nearly hold still the frame stays within their values
(``stay_between``), what holds still between them is their blend (``hold_still``),
and so is what changed in place between them and held still before and after (``settle_steps``), and
what the made frame lost of what I2 and I3 show (``keep_content``: a small thing the motion search read
around).

The blend is time-weighted, (1 - t) I2 + t I3, not the nearer frame: it is the synthesis net's own base and
what blending peers make, it equals the plain average at t = 0.5, and it moves smoothly with t (the nearer
frame would jump at t = 0.5, a visible step in a slow-motion ramp).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from . import kernels
from .box import box_mean, window_max
from .motion import CONTENT_FLOOR, LOST_SHARE, LUMA, Time, _constant, at_pixels, contrast_regions, region_means, weighted_sum

TRUST_BLOCK = 9                  # px: the window each measure is averaged over
TRUST_SMOOTH = 15                # px: the box that spreads trust (no hard seam where the fallback starts)
FAILURE_AREA = 15                # px: a failure falls back only where it fills a square this wide
UNCHANGED_LEVELS = (2.0, 8.0)    # U in 8-bit levels: below 2 nothing falls back, from 8 it may fully
MIDDLE_RATIO = (0.1, 0.5)        # D / U: at most 0.1 the motion explains the pair; from 0.5 it does not
OUTER_RATIO = (0.2, 0.6)         # O / U: at most 0.2 one outer side bears it out; from 0.6 neither does
FALLBACK_BELOW = 0.5             # a pixel "fell back" (the share reported) where trust is below this


def _ramp(x: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    lo, hi = bounds
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def _luma(frames: torch.Tensor) -> torch.Tensor:
    """(B, N, 3, H, W) on [-1, 1] -> (B, N, H, W) luma on [0, 1]."""
    return (weighted_sum(frames, 2, _constant(LUMA, frames)) + 1) * 0.5


def _unexplained(u: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """How far I2 and I3 differ (U, window means on [0, 1]) by more than the motion explains (D, the
    compensated pair's): 0 where blending would blur nothing or the vectors make the pair agree, 1 where
    the pair changed and the vectors explain none of it. The one rule of both ``trust_map`` and
    ``step_weight``."""
    return _ramp(u * 255, UNCHANGED_LEVELS) * _ramp(d / u.clamp_min(1e-3), MIDDLE_RATIO)


class PairMeans(NamedTuple):
    """TRUST_BLOCK window means of luma differences on [0, 1] (``pair_means``), read by the trust map and
    the step rule alike: U, D and the outer pairs as they came and as brought to time t."""
    u: torch.Tensor          # |I2 - I3|
    d: torch.Tensor          # |I2' - I3'|
    before: torch.Tensor     # |I1 - I2|
    after: torch.Tensor      # |I3 - I4|
    left: torch.Tensor       # |I1' - I2'|
    right: torch.Tensor      # |I3' - I4'|


def pair_means(frames: torch.Tensor, moved: torch.Tensor) -> PairMeans:
    """The window means both rules read, made once per pass (``Net.safeguard``): ``frames`` the four frames
    (B, 4, 3, H, W) on [-1, 1], ``moved`` the same brought to time t (Net.compensate)."""
    with torch.no_grad():
        plain, comp = _luma(frames.float()), _luma(moved.float())
        pairs = torch.stack([plain[:, 1] - plain[:, 2], comp[:, 1] - comp[:, 2], plain[:, 0] - plain[:, 1],
                             plain[:, 2] - plain[:, 3], comp[:, 0] - comp[:, 1], comp[:, 2] - comp[:, 3]], 1).abs()
        return PairMeans(*box_mean(pairs, TRUST_BLOCK).unbind(1))


def trust_map(frames: torch.Tensor, moved: torch.Tensor, means: PairMeans | None = None) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: how far the net's frame is trusted (1) over the blend (0). ``frames``: the
    four frames (B, 4, 3, H, W) on [-1, 1]; ``moved``: the same brought to time t (Net.compensate);
    ``means``: their ``pair_means``, where the caller has them."""
    with torch.no_grad():
        m = means or pair_means(frames, moved)
        failure = _unexplained(m.u, m.d) * _ramp(torch.minimum(m.left, m.right) / m.u.clamp_min(1e-3), OUTER_RATIO)
        return box_mean(1 - opened(failure[:, None], FAILURE_AREA), TRUST_SMOOTH).clamp(0, 1)


def opened(x: torch.Tensor, side: int) -> torch.Tensor:
    """x (B, 1, H, W) where it fills a square ``side`` px wide: the least over the square, then the most
    (a morphological opening; edges count as absent, not as zeros)."""
    return window_max(-window_max(-x, side), side)


def blend_at(frames: torch.Tensor, t: Time) -> torch.Tensor:
    """I2 and I3 of (B, 4, 3, H, W) frames weighted by their nearness to time t: the plain blend of the frames
    as they came, the safety net's fallback of the frames brought to t."""
    if isinstance(t, float) and t == 0.5:
        return 0.5 * (frames[:, 1] + frames[:, 2])
    return (1 - t) * frames[:, 1] + t * frames[:, 2]


def fall_back(frame: torch.Tensor, moved: torch.Tensor, trust: torch.Tensor, t: Time,
              strength: float = 1.0) -> torch.Tensor:
    """trust * frame + (1 - trust) * the compensated pair's blend (``moved``: the four frames brought to
    time t), with the fallback scaled by ``strength`` (0: the frame as it is)."""
    if strength != 1.0:
        trust = 1 - strength * (1 - trust)
    safe = blend_at(moved, t).to(frame.dtype)
    return safe + trust.to(frame.dtype) * (frame - safe)


def trust_picture(trust: torch.Tensor) -> torch.Tensor:
    """The trust map as an RGB picture on [-1, 1] (grey: black = fell back fully, white = trusted), what
    ``mask=1`` shows in place of the made frames."""
    return (trust * 2 - 1).expand(-1, 3, -1, -1)


def summary(trust: torch.Tensor) -> tuple[float, float]:
    """(mean trust, share of pixels below FALLBACK_BELOW) of one frame's map: the per-frame summary."""
    return float(trust.mean()), float((trust < FALLBACK_BELOW).float().mean())


STILL_LEVELS = (4.0, 8.0)   # 8-bit levels: where I2 and I3 differ by at most 4 anywhere in a STILL_BLOCK
STILL_MEAN = (2.0, 3.0)     # and by at most 2 on its average, they are one still picture and the frame is
STILL_BLOCK = 5             # their blend; from 8 anywhere or 3 on average, the net's frame
NEAR_STILL_LEVELS = (8.0, 16.0)   # the same measures, looser: where I2 and I3 differ by at most 8 anywhere
NEAR_STILL_MEAN = (4.0, 6.0)      # in the block and 4 on average, the frame stays within their values
CLAMP_MARGIN = 2.0                # (``stay_between``) to within 2 levels; from 16 or 6, as the net made it


def _still_measures(frames: torch.Tensor, moved: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(worst, mean), each (B, 1, H, W) in 8-bit levels over a STILL_BLOCK: how far I2 and I3 differ
    (``still_weight`` says on what hypotheses), read by both still rules."""
    with torch.no_grad():
        levels = 127.5      # [-1, 1] -> 8-bit levels
        gaps = torch.stack([frames[:, 1] - frames[:, 2], moved[:, 1] - frames[:, 1], moved[:, 2] - frames[:, 2]], 1)
        pixel = gaps.float().abs().amax((1, 2))[:, None] * levels
        return window_max(pixel, STILL_BLOCK), box_mean(pixel, STILL_BLOCK)


def _still_from(measures: tuple[torch.Tensor, torch.Tensor], worst_levels: tuple[float, float],
                mean_levels: tuple[float, float]) -> torch.Tensor:
    """Still by ``_still_measures`` at the given levels: 1 up to each ramp's low end, 0 from either high end."""
    worst, mean = measures
    return (1 - _ramp(worst, worst_levels)) * (1 - _ramp(mean, mean_levels))


def still_weight(frames: torch.Tensor, moved: torch.Tensor,
                 measures: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: where the picture holds still between I2 and I3 (B, 4, 3, H, W on [-1, 1], as
    they came and as brought to time t: ``moved``). A pixel's difference is the largest of any channel on
    both hypotheses: the two frames as they came agree, and so do the compensated ones with them (nothing
    the vectors carry passes through there, as a ball crossing between the two frames would). Still is
    the largest over the block at most STILL_LEVELS[0] and their mean at most STILL_MEAN[0]: a lossy
    codec's noise where nothing changed reaches 4-8 levels at single pixels along edges (a screen
    recording's icons), while grain, which the net's frame keeps, differs everywhere and so on average.
    ``measures``: ``_still_measures``, where the caller has them."""
    return _still_from(measures or _still_measures(frames, moved), STILL_LEVELS, STILL_MEAN)


def stay_between(frame: torch.Tensor, frames: torch.Tensor, moved: torch.Tensor,
                 measures: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The frame kept within I2's and I3's own values (per pixel and channel, CLAMP_MARGIN levels beyond)
    where the two nearly hold still (the NEAR_STILL levels: looser than ``hold_still``'s, since this takes
    away only what lies outside both). A still icon between frames that change around it (a screen
    recording whose search results come and go) drew a blob of the net's own there, 39 levels off, on a
    pair 5 levels apart: the codec's noise at the icon's edge, over what ``hold_still`` takes for still
    (display-dual-monitors' frames 31 and 47: 52.23 and 54.40 dB against the blend's 53.71 and 55.02; kept
    within, 53.85 and 54.91). Grain the net keeps lies between the two frames' grains and stays. Not where
    anything moves: there the net's frame may rightly show what neither frame shows at that pixel (a thing
    crossing it in between)."""
    weight = _still_from(measures or _still_measures(frames, moved), NEAR_STILL_LEVELS, NEAR_STILL_MEAN)
    if not weight.is_cuda and not bool(weight.any()):
        return frame          # nothing nearly still (on the CPU, where asking costs no wait)
    margin = CLAMP_MARGIN / 127.5
    i2, i3 = frames[:, 1].to(frame.dtype), frames[:, 2].to(frame.dtype)
    low, high = torch.minimum(i2, i3).sub_(margin), torch.maximum(i2, i3).add_(margin)
    inside = torch.clamp(frame, low, high)
    return torch.lerp(frame, inside, weight.to(frame.dtype))


def settle(frame: torch.Tensor, frames: torch.Tensor, moved: torch.Tensor, t: Time,
           means: PairMeans | None = None) -> torch.Tensor:
    """``stay_between``, ``hold_still``, ``settle_steps``, ``keep_content``, then ``keep_grey``: the always-on
    rules, with the blend and the still measures made once (``means``: the frames' ``pair_means``, where the
    caller has them)."""
    safe = blend_at(frames, t).to(frame.dtype)
    measures = _still_measures(frames, moved)
    frame = hold_still(stay_between(frame, frames, moved, measures), frames, moved, t, safe, measures)
    frame = settle_steps(frame, frames, moved, t, safe, means)
    return keep_grey(keep_content(frame, frames, moved, t, safe, means), frames)


LOST_REGION = 1.0   # keep_content's region: the frame's short side, wider than a fast pan moves (a quarter of
                    # the width between I2 and I3: a third of the short side took the blend into pans, 55 -> 36 dB)
CONTENT_LEVELS = (CONTENT_FLOOR, 3.0)   # 8-bit levels of a region's mean contrast: below 1 nothing to lose
KEPT_RATIOS = (0.25, LOST_SHARE)   # contrast the made frame kept of I2's and I3's: at most a quarter is
                                   # lost content (the blend fully); from a half, kept


def _lost(kept: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
    """How far a region lost its content: its share of contrast kept (KEPT_RATIOS), where it had some."""
    return (1 - _ramp(kept, KEPT_RATIOS)) * _ramp(shown * 255, CONTENT_LEVELS)


def lost_weight(frame: torch.Tensor, frames: torch.Tensor, means: PairMeans) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: where the made ``frame`` lost what I2 and I3 showed. Bilateral matching (the
    search at the new frame's time, model/motion.py) cannot see a small thing that moved further than its
    own size over a flat background: at its place at time t both frames show the background, a perfect
    match, and the vectors read around it; dice tumbling on black vanished from a held-out clip's frames
    (19.8 dB where the blend, showing them twice at half strength, gives 21.2), and ``motion.rescue``
    carries only what it can match. Over a region as wide as the frame's short side (LOST_REGION: a
    narrower one, misaligned with the frame by a fast pan, took the blend into pans) the frame keeps at
    most a quarter of their contrast (``motion.contrast_regions``); there, where I2 and I3 differ
    (``_unexplained``'s U ramp, widened by TRUST_SMOOTH so that a thing smaller than that gets all of it),
    the frame is the blend."""
    with torch.no_grad():
        kept, shown = contrast_regions(_luma(frames[:, 1:3].float()), _luma(frame[:, None].float()), LOST_REGION)
        if not kept.is_cuda and not bool(_lost(kept, shown).any()):     # the usual case: nothing lost
            return torch.zeros_like(kept[:, :, :1, :1]).expand(-1, -1, *frame.shape[-2:])
        both = at_pixels(torch.cat([kept, shown], 1), frame.shape[-2:])   # ramped at each pixel
        lost = _lost(both[:, :1], both[:, 1:])
        changed = window_max(_ramp(means.u[:, None] * 255, UNCHANGED_LEVELS), TRUST_SMOOTH)   # all of a small thing
        return box_mean(lost * changed, TRUST_SMOOTH).clamp(0, 1)


def keep_content(frame: torch.Tensor, frames: torch.Tensor, moved: torch.Tensor, t: Time,
                 safe: torch.Tensor | None = None, means: PairMeans | None = None) -> torch.Tensor:
    """The frame with what the motion lost taken from the blend (``lost_weight``): a thing shown twice at
    half strength is the blend's known fault, a thing gone is worse (a ball that vanishes from every
    other frame flickers). ``safe``, ``means``: as ``settle_steps``'."""
    weight = lost_weight(frame, frames, means or pair_means(frames, moved))
    if not weight.is_cuda and not bool(weight.any()):
        return frame          # the usual case (on the CPU, where asking costs no wait)
    return _toward_blend(frame, frames, weight, t, safe)


GREY_LEVELS = 2.0   # 8-bit levels: a window whose four frames' channels differ by at most this nowhere is grey


def keep_grey(frame: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """A window of grey footage (a black-and-white film, a grey camera: in none of its four frames (B, 4, 3,
    H, W on [-1, 1]) do a pixel's channels differ by more than GREY_LEVELS) makes a grey frame: the net,
    trained on colour, leaves faint colour at moving edges there (the grey held-out clip visp-mire-2: a
    brownish rim on a white disc). Each pixel then takes its channels' mean; a window with any colour is
    left as it is."""
    with torch.no_grad():
        spread = (frames.amax(2) - frames.amin(2)).flatten(1).amax(1).float() * 127.5     # (B,) 8-bit levels
        grey = (spread <= GREY_LEVELS).view(-1, 1, 1, 1)
    if not grey.is_cuda and not grey.any():     # a colour clip: no mean made (on a GPU, asking would wait)
        return frame
    return torch.where(grey, frame.mean(1, keepdim=True).expand_as(frame), frame)


def hold_still(frame: torch.Tensor, frames: torch.Tensor, moved: torch.Tensor, t: Time,
               safe: torch.Tensor | None = None,
               measures: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The frame with what held still between I2 and I3 taken from their blend (``still_weight``): there
    the blend is exact, and a net's residual (a halo from an edge moving nearby, a grain it invented) can
    only add error. Static UI in a screen recording, a title card's letters, a letterbox bar. ``safe``:
    the blend, where the caller has it (``settle``); ``measures``: as ``still_weight``'s."""
    return _toward_blend(frame, frames, still_weight(frames, moved, measures), t, safe)


STEP_STILL_LEVELS = (2.0, 4.0)   # 8-bit levels, TRUST_BLOCK means: I1 = I2 and I3 = I4 to within 2 is still;
                                 # from 4 not
STEP_REGION = 1 / 3              # the regional step rule's region: its side as a share of the short side
REGION_RATIO = (0.5, 0.8)        # D / U summed over the region: from 0.8 its vectors explain none of the step


def step_weight(frames: torch.Tensor, moved: torch.Tensor, means: PairMeans | None = None) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: where the picture changed in place between I2 and I3 and held still on both
    sides of the change: I1 = I2 and I3 = I4 as they came (STEP_STILL_LEVELS), I2 and I3 differ, and the
    vectors explain none of it (``_unexplained``: a flat object moving over a still background also holds
    still on both sides of its edge, but there the compensated pair agree). A screen that switches
    pages, a title that appears, a light turned on. A side whose outer frame is a copy of its middle one
    (a clip's first or last window, a frame put back across a cut) is no evidence: nothing there.

    Judged in each TRUST_BLOCK window and over regions (``_regional_steps``), whichever says more: icons
    that appear over a still screen have flat areas and rims that the search matches to look-alikes (an
    icon's white to another white, its rim to a neighbour's), so window by window the vectors seem to
    explain a quarter of the change, and the frame smeared those pieces (display-dual-monitors' frame 29:
    22.02 dB against the blend's 22.91; over regions 22.64). ``means``: the frames'
    ``pair_means``, where the caller has them."""
    with torch.no_grad():
        m = means or pair_means(frames, moved)
        settled = 1 - _ramp(torch.maximum(m.before, m.after) * 255, STEP_STILL_LEVELS)
        copies = is_copy(frames, 0, 1) | is_copy(frames, 2, 3)
        settled = settled * (~copies).to(settled.dtype).view(-1, 1, 1)
        step = _unexplained(m.u, m.d) * settled
        local = box_mean(step[:, None], TRUST_SMOOTH).clamp(0, 1)
        return torch.maximum(local, _regional_steps(m, settled))


def _regional_steps(m: PairMeans, settled: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): the step rule over regions of STEP_REGION: where what changed and held still on both
    sides has, summed over the region, a compensated difference D of at least REGION_RATIO of U. Animation
    on twos (every frame twice: I1 = I2, I3 = I4 everywhere) stays the net's: its vectors explain most of
    each region's change (three clips made so: within 0.01 dB of the rule without regions)."""
    changed = _ramp(m.u * 255, UNCHANGED_LEVELS) * settled
    if not changed.is_cuda and not bool(changed.any()):      # the usual case: nothing held still and changed
        return torch.zeros_like(changed[:, None, :1, :1]).expand(-1, -1, *changed.shape[-2:])
    over = region_means(torch.stack([m.d * changed, m.u * changed], 1), STEP_REGION)
    ratio = at_pixels(over[:, :1] / over[:, 1:].clamp_min(1e-6), changed.shape[-2:])
    return box_mean(_ramp(ratio, REGION_RATIO) * changed[:, None], TRUST_SMOOTH).clamp(0, 1)


def is_copy(frames: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """(B,) bool: frame a of each window is frame b's very copy: on a device decided there, elementwise (no
    wait; also what the bench counts as a GPU's work); on the CPU by torch.equal, which stops at the first
    difference: the usual pair of frames costs nothing, where comparing every element took 0.5 ms a pair
    at 640x384."""
    if frames.device.type != "cpu" or kernels.watched():
        return (frames[:, a] == frames[:, b]).flatten(1).all(1)
    return torch.tensor([torch.equal(x, y) for x, y in zip(frames[:, a], frames[:, b])], dtype=torch.bool,
                        device=frames.device)


def settle_steps(frame: torch.Tensor, frames: torch.Tensor, moved: torch.Tensor, t: Time,
                 safe: torch.Tensor | None = None, means: PairMeans | None = None) -> torch.Tensor:
    """The frame with what changed in place between I2 and I3 taken from their blend (``step_weight``).
    When between the two frames the change came is unknown, and the time-weighted blend is the
    least-squares answer for any moment equally likely (the share changed by t is t); a net trained on
    motion makes a picture of its own there: half an icon smeared toward a neighbour, a page's text
    warped (a held-out screen recording lost 0.3-2.1 dB to the blend on such frames). ``safe``: as
    ``hold_still``'s; ``means``: as ``step_weight``'s."""
    return _toward_blend(frame, frames, step_weight(frames, moved, means), t, safe)


def _toward_blend(frame: torch.Tensor, frames: torch.Tensor, weight: torch.Tensor, t: Time,
                  safe: torch.Tensor | None = None) -> torch.Tensor:
    """frame + weight * (blend - frame): the blend where ``weight`` is 1, the frame where it is 0."""
    if safe is None:
        safe = blend_at(frames, t).to(frame.dtype)
    return torch.lerp(frame, safe, weight.to(frame.dtype))
