"""The options of one Interpolate call, declared once.

Every entry point builds one ``Options`` and hands it on: the Python API (``convlstm.interpolate``), the
CLI (its flags are made from these fields), assets/interpolate.vpy (its ``-a`` names are these fields), the
cluster's workers and the native filter, whose VapourSynth signature is ``signature()`` (plugin/signature.h
holds a copy that a test compares). Adding an option is one field here, plus its use in filter/stages.py.

The rules live in ``Options.__post_init__``; the filter applies them to whatever C passes, so a direct
``core.convlstm.Interpolate`` call is held to the same rules as the Python API. This module imports nothing
heavy: `import convlstm` stays free of torch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from fractions import Fraction
from typing import Any, Mapping

from .errors import InterpolateError

DEFAULT_SC_THRESHOLD = 0.15
DEFAULT_DEDUP_THRESHOLD = 0.03    # filter/repeats.py explains the measure
MAX_FACTOR = 64
MAX_BATCH = 16
MAX_LANES = 16
MIN_TILE = 64        # px: smaller tiles would be mostly overlap
MAX_TILE = 1 << 16
MAX_RATE_TERM = 1 << 40   # fps_num/fps_den and factor_num/factor_den beyond this describe no real rate

# VapourSynth's argument kinds -> the Python type a value must have after conversion
KINDS = {"data": str, "int": int, "float": float, "flag": bool}
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
CUT_MODES = ("blend", "repeat")   # sc_mode's values, the default first (filter/scenes.py: frame_at_cut)


@dataclass(frozen=True)
class Retired:
    """An option that was replaced: it stays in the filter's signature (as ``kind``) and among the CLI's
    flags (hidden) only so that an old call reaches us and is told what replaced it (``filter`` in the
    filter's words, ``cli`` in the command's), rather than "argument not used" or "unrecognized arguments"."""
    kind: str
    filter: str
    cli: str


RETIRED = {"fp16": Retired("int", "fp16 was replaced by precision (auto, fp32, fp16 or bf16): fp16=1 is now "
                           "precision=fp16, fp16=0 is precision=fp32; leave it unset for the default (auto)",
                           "--fp16 was replaced by --precision (auto, fp32, fp16 or bf16): use --precision fp16, "
                           "or leave it out for the default (auto)")}


def _option(kind: str, help: str, cli: bool = True) -> Any:
    """A field: its VapourSynth kind (``flag`` is an int 0/1 there), its help text (shared by the CLI and
    the docs) and whether the CLI makes a flag from it (the rate fields have their own flags there)."""
    return field(default=None, metadata={"kind": kind, "help": help, "cli": cli})


@dataclass(frozen=True)
class Options:
    """Everything ``Interpolate`` takes besides the clip; None means "the default" (said in each help)."""

    weights: str | None = _option("data", "checkpoint file, 'paper' for the motion-free model of the paper "
                                  "(default: the bundled model)")
    device: str | None = _option("data", "auto, cpu, cuda or cuda:N (default auto: the first CUDA GPU, else "
                                 "the CPU)")
    precision: str | None = _option("data", "auto, fp32, fp16 or bf16: the arithmetic of the net's learned part "
                                    "(the motion search is always fp32). Default auto: bf16 on a CPU with native "
                                    "bf16 (AVX-512 BF16 or AMX), fp16 on CUDA for 16-bit float clips, else fp32. "
                                    "fp16 needs CUDA; bf16 needs CUDA or such a CPU")
    factor: int | None = _option("float", f"frames out per frame in, a whole number 2..{MAX_FACTOR} (default 2; "
                                 "for a fraction use factor_num/factor_den)", cli=False)
    factor_num: int | None = _option("int", "numerator of a fractional factor, e.g. 5 for 5/2", cli=False)
    factor_den: int | None = _option("int", "denominator of a fractional factor, e.g. 2 for 5/2", cli=False)
    fps_num: int | None = _option("int", "numerator of a target rate, e.g. 60000 for 59.94 fps", cli=False)
    fps_den: int | None = _option("int", "denominator of a target rate, e.g. 1001 for 59.94 fps", cli=False)
    sc_threshold: float | None = _option("float", f"scene-cut threshold 0..1 (default {DEFAULT_SC_THRESHOLD}; "
                                         "0 turns detection off): the net never works across a cut; sc_mode says "
                                         "what a new frame between the two frames of a cut shows")
    sc_mode: str | None = _option("data", "blend or repeat: a new frame between the two frames of a scene cut shows "
                                  "the two weighted by its time (blend, the default: the least error where the "
                                  "cut's moment is unknown, as mvtools' FlowFPS) or the earlier frame again "
                                  "(repeat: a clean cut)")
    scales: int | None = _option("int", "1: the full-size pass only; 2: plus the half-size pass, for weights "
                                 "trained with a scale fusion (default: the weights' own setting)")
    batch: int | None = _option("int", f"windows per forward pass, 1..{MAX_BATCH} (default: 4 on CUDA up to "
                                "1080p, else 1)")
    tile: int | None = _option("int", f"run the learned part on tiles of at most this many px a side (at least "
                               f"{MIN_TILE}; bounds memory, e.g. 1024 for 4K on a 16 GB card); 0 or unset: "
                               "whole frames")
    compile: bool | None = _option("flag", "torch.compile the network's learned part (faster frames): 1 always, 0 "
                                   "never; unset (auto): on the CPU in one lane (lanes=1), clips of 200 output "
                                   "frames or more run compiled once a background warm-up for their frame size has "
                                   "finished (the end of the first such run starts it; docs/usage.md)")
    detail: float | None = _option("float", "0..1: how much of the source frames' sharpness the new frames get "
                                   "back (default: the weights' own, 1 for the bundled model)")
    safety: float | None = _option("float", "0..1: how far a new frame falls back toward the average of its two "
                                   "neighbours brought to its time, where the motion cannot be trusted (changing "
                                   "texture such as water, shapes that appear, bent outlines; docs/usage.md, \"The "
                                   "safety net\"); 0 off (default: the weights' own, 1 for the bundled model)")
    mask: bool | None = _option("flag", "show the safety net's trust map as the picture of the new frames (grey: "
                                "white = the net's frame kept, black = the blend taken); source frames pass "
                                "unchanged (default off)")
    dedup: bool | None = _option("flag", "treat frames that repeat the one before (animation on twos, stalled "
                                 "captures) as no motion sample: new frames are made at their place between "
                                 "the unique frames around them (default off; docs/usage.md, \"Repeated frames\")")
    dedup_threshold: float | None = _option("float", "0..1: a frame repeats the one before when no 16x16 block "
                                            "differs by more than this fraction of full range on average "
                                            f"(default {DEFAULT_DEDUP_THRESHOLD}: about 7.7 levels of 8-bit; raise "
                                            "it for heavily compressed sources)")
    lanes: int | None = _option("int", f"forward passes at once on the CPU, 1..{MAX_LANES}, each on an equal share of "
                                "torch's threads: more frames a second where frames are requested together (vspipe), "
                                "a slower single frame (lanes=1 for previewing, and where core.num_threads is 1); "
                                "default 2 on a CPU of at least 2 threads up to 1920x1088, else 1; on CUDA 1 "
                                "(batch= shares the card)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, _typed(f.name, f.metadata["kind"], value))
        self._check()

    def _check(self) -> None:
        """The rules that need several fields, or more than a type."""
        for num, den, example in (("fps_num", "fps_den", "fps_num=60000, fps_den=1001"),
                                  ("factor_num", "factor_den", "factor_num=5, factor_den=2")):
            if (getattr(self, num) is None) != (getattr(self, den) is None):
                raise InterpolateError(f"{num} and {den} go together, e.g. {example}")
            if getattr(self, num) is not None and not (0 < getattr(self, num) <= MAX_RATE_TERM
                                                       and 0 < getattr(self, den) <= MAX_RATE_TERM):
                raise InterpolateError(f"{num} and {den} must be positive whole numbers up to 2^40, got "
                                       f"{getattr(self, num)}/{getattr(self, den)}")
        if sum(v is not None for v in (self.factor, self.factor_num, self.fps_num)) > 1:
            raise InterpolateError("give one of factor, factor_num/factor_den or fps_num/fps_den, not several")
        if self.factor is not None:
            check_factor(self.factor)
        if self.factor_num is not None:
            check_factor(Fraction(self.factor_num, self.factor_den))
        if self.scales is not None and self.scales not in (1, 2):
            raise InterpolateError(f"scales must be 1 (full-size pass only: faster) or 2 (plus the half-size pass: "
                                   f"better on fast motion), got {self.scales}")
        if self.batch is not None and not 1 <= self.batch <= MAX_BATCH:
            raise InterpolateError(f"batch must be 1..{MAX_BATCH} (windows per forward pass), got {self.batch}")
        if self.lanes is not None and not 1 <= self.lanes <= MAX_LANES:
            raise InterpolateError(f"lanes must be 1..{MAX_LANES} (forward passes at once on the CPU), "
                                   f"got {self.lanes}")
        if self.tile and not MIN_TILE <= self.tile <= MAX_TILE:
            raise InterpolateError(f"tile must be 0 (whole frames) or a side of {MIN_TILE}..{MAX_TILE} px, "
                                   f"got {self.tile}")
        if self.detail is not None and not 0.0 <= self.detail <= 1.0:
            raise InterpolateError(f"detail must be in [0, 1] (0: the net's own frame, 1: as sharp as the source "
                                   f"frames), got {self.detail}")
        if self.safety is not None and not 0.0 <= self.safety <= 1.0:
            raise InterpolateError(f"safety must be in [0, 1] (0: the net's own frame, 1: the full fallback toward "
                                   f"the compensated blend where the motion is not trusted), got {self.safety}")
        if self.sc_threshold is not None and not 0.0 <= self.sc_threshold <= 1.0:
            raise InterpolateError(f"sc_threshold must be in [0, 1] (0 turns detection off), got {self.sc_threshold}")
        if self.sc_mode is not None:
            text = self.sc_mode.strip().lower()
            if text not in CUT_MODES:
                raise InterpolateError(f"sc_mode must be {' or '.join(CUT_MODES)} (what a new frame at a scene cut "
                                       f"shows), got {self.sc_mode!r}")
            object.__setattr__(self, "sc_mode", text)
        if self.device is not None:
            parse_device(self.device)
        if self.precision is not None:
            text = self.precision.strip().lower()
            if text not in PRECISIONS:
                raise InterpolateError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
            object.__setattr__(self, "precision", text)
        if self.dedup_threshold is not None:
            if not self.dedup:
                raise InterpolateError("dedup_threshold only applies with dedup=1 (it says which frames count as "
                                       "repeats); add dedup=1 or leave dedup_threshold out")
            if not 0.0 <= self.dedup_threshold <= 1.0:
                raise InterpolateError(f"dedup_threshold must be in [0, 1] (a fraction of full range; default "
                                       f"{DEFAULT_DEDUP_THRESHOLD}), got {self.dedup_threshold}")

    @classmethod
    def from_filter_args(cls, args: Mapping[str, Any]) -> "Options":
        """What C passes (or any mapping of option names): retired names are refused naming what replaced
        them, unknown names naming the known ones."""
        check_retired(args)
        unknown = sorted(set(args) - set(NAMES))
        if unknown:
            raise InterpolateError(f"unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(NAMES)}")
        return cls(**args)

    def filter_args(self) -> dict[str, Any]:
        """The set options as keyword arguments of ``core.convlstm.Interpolate`` (flags as 0/1)."""
        return {k: int(v) if isinstance(v, bool) else v for k, v in asdict(self).items() if v is not None}

    def updated(self, **changes: Any) -> "Options":
        """A copy with some options changed (checked again)."""
        check_retired(changes)
        return replace(self, **changes)

    @property
    def sc(self) -> float:
        return DEFAULT_SC_THRESHOLD if self.sc_threshold is None else self.sc_threshold

    @property
    def cut_mode(self) -> str:
        return self.sc_mode or CUT_MODES[0]

    @property
    def repeat_threshold(self) -> float:
        return DEFAULT_DEDUP_THRESHOLD if self.dedup_threshold is None else self.dedup_threshold

    @property
    def gives_rate(self) -> bool:
        """Whether a target rate (fps_num/fps_den) was asked for rather than a factor."""
        return self.fps_num is not None

    def ratio(self, source_rate: Fraction | None) -> Fraction:
        """Output frames per source frame; a target rate needs the source's (None: not known)."""
        if self.fps_num is not None:
            if source_rate is None:
                raise InterpolateError("fps_num/fps_den need a clip with a known constant frame rate; "
                                       "set one with core.std.AssumeFPS(clip, fpsnum=..., fpsden=...)")
            ratio = Fraction(self.fps_num, self.fps_den) / source_rate
            if ratio > MAX_FACTOR:
                raise InterpolateError(f"fps_num/fps_den ask for {float(ratio):.4g} times the clip's rate; at most "
                                       f"{MAX_FACTOR} times")
            return ratio
        if self.factor_num is not None:
            return Fraction(self.factor_num, self.factor_den)
        return Fraction(self.factor if self.factor is not None else 2)

    def whole_factor(self) -> int | None:
        """The factor when it is a whole number given as ``factor`` (or nothing: 2), else None."""
        if self.factor_num is not None or self.fps_num is not None:
            return None
        return self.factor if self.factor is not None else 2


NAMES = tuple(f.name for f in fields(Options))


def check_retired(names) -> None:
    """A retired option among ``names`` is an error saying what replaced it."""
    for name in names:
        if name in RETIRED:
            raise InterpolateError(RETIRED[name].filter)


def check_factor(factor: int | Fraction) -> Fraction:
    """The one factor range rule (the CLI applies it before decoding anything)."""
    if not 1 < factor <= MAX_FACTOR:
        raise InterpolateError(f"factor must be above 1 and at most {MAX_FACTOR}, got {factor}; "
                               "for a target rate use fps_num/fps_den")
    return Fraction(factor)


def parse_device(spec: str | None) -> tuple[str, int | None]:
    """'auto', 'cpu', 'cuda' or 'cuda:N' (any case, spaces around) -> (kind, index); whether it exists here is
    filter/devices.py's question."""
    text = (spec if spec is not None else "auto").strip().lower()
    if text in ("auto", "cpu"):
        return text, None
    if text == "cuda":
        return "cuda", 0
    if text.startswith("cuda:") and text[5:].isdigit() and text[5:].isascii():
        return "cuda", int(text[5:])
    raise InterpolateError(f"device {spec!r} is not valid; use 'auto', 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ...)")


def _typed(name: str, kind: str, value: Any) -> Any:
    """One value as its field's type, or a sentence saying what the field takes."""
    if kind == "data":
        if not isinstance(value, str):
            raise InterpolateError(f"{name} must be text, got {value!r}")
        return value
    if kind == "flag":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise InterpolateError(f"{name} must be 0 or 1 (False/True), got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InterpolateError(f"{name} must be a number, got {value!r}")
    if kind == "int":
        if not isinstance(value, int):
            raise InterpolateError(f"{name} must be a whole number, got {value!r}")
        return value
    if not math.isfinite(value):
        raise InterpolateError(f"{name} must be a finite number, got {value!r}")
    if name == "factor":          # a float in the signature so that 2.5 is refused, not truncated to 2
        if value != int(value):
            raise InterpolateError(f"factor must be a whole number, got {value!r}; for a fraction of the rate use "
                                   f"factor_num/factor_den (e.g. factor_num=5, factor_den=2 for 2.5)")
        return int(value)
    return float(value)


def signature() -> str:
    """The filter's VapourSynth signature (plugin/signature.h holds this string; tests compare them)."""
    kind = {"data": "data", "int": "int", "float": "float", "flag": "int"}
    return ("clip:vnode;" + "".join(f"{f.name}:{kind[f.metadata['kind']]}:opt;" for f in fields(Options))
            + "".join(f"{name}:{kind[r.kind]}:opt;" for name, r in RETIRED.items()))


def default_batch(device_type: str, width: int, height: int) -> int:
    """Windows per forward pass where frames are requested together: on a GPU a pass of one window leaves
    most of it idle, up to 1080p; beyond, four windows' activations cost more memory than they gain (use
    tile= there). On the CPU the net already uses every core, and a padded pass only costs time."""
    return 4 if device_type == "cuda" and width * height <= 1920 * 1088 else 1


def default_lanes(device_type: str, width: int, height: int, threads: int) -> int:
    """Forward passes at once on the CPU: two passes of one thread each made a third more frames a second
    than one of two threads on this project's 2-core CPU (640x360 bf16, docs/benchmarks.md): the net's
    small elementwise steps leave a second thread waiting. Not on the filter's threads: a frame's bits
    follow its pass's share of torch's threads (filter/batcher.py), which must not change with
    core.num_threads. Up to 1080p, as default_batch (two passes hold two passes' activations); never on a
    GPU, whose passes queue on one card."""
    return 2 if device_type == "cpu" and threads >= 2 and width * height <= 1920 * 1088 else 1


def c_header() -> str:
    """plugin/signature.h: the signature as C sees it (``python -m convlstm.options > plugin/signature.h``)."""
    parts = signature().split(";")[:-1]
    lines = "\n".join(f'    "{p};"' for p in parts)
    return ("/* Made by `python -m convlstm.options > plugin/signature.h` from convlstm/options.py (the one\n"
            " * declaration of Interpolate's options); tests/test_plugin.py checks that it is current. */\n"
            "#define CONVLSTM_SIGNATURE \\\n" + lines.replace("\n", " \\\n") + "\n")


if __name__ == "__main__":
    print(c_header(), end="")
