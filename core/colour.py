"""Colour facts every conversion shares: H.273 codes, what an untagged clip is taken to be, and
ffmpeg's names for the tags we write. Host-free (no VapourSynth), so the device conversion uses it too."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

UNSPECIFIED = 2
BT709, BT470BG, SMPTE170M = 1, 5, 6

# ffmpeg names for the H.273 codes we write as colour tags
FFMPEG_MATRIX = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc", 10: "bt2020c"}
FFMPEG_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 13: "iec61966-2-1", 14: "bt2020-10",
                   15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
FFMPEG_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}


# Untagged YUV files are read as BT.601 for measurements and training data, whatever their size: the
# evaluation protocol's reference figures were measured so (the filter itself follows default_matrix).
MEASUREMENT_MATRIX = BT470BG


def is_hd(width: int, height: int) -> bool:
    return width > 1024 or height > 576


def default_matrix(width: int, height: int) -> int:
    """What players assume for an untagged clip: BT.709 for HD, BT.601 for SD (also used for its transfer)."""
    return BT709 if is_hd(width, height) else SMPTE170M


def default_primaries(width: int, height: int) -> int:
    return BT709 if is_hd(width, height) else BT470BG


@dataclass(frozen=True)
class Colour:
    matrix: int      # H.273 codes, as VapourSynth's resize takes them
    transfer: int
    primaries: int
    full_range: bool
    tagged: frozenset[str] = field(default=frozenset({"matrix", "transfer", "primaries", "range"}), compare=False)

    @classmethod
    def from_props(cls, props: Mapping[str, Any], width: int, height: int, is_rgb: bool,
                   untagged_matrix: int | None = None) -> "Colour":
        """A frame's colour props; unset values follow ``default_matrix``/``default_primaries``
        (``untagged_matrix`` overrides the matrix default, for measurements with a fixed convention)."""
        matrix = int(props.get("_Matrix", UNSPECIFIED))
        transfer = int(props.get("_Transfer", UNSPECIFIED))
        primaries = int(props.get("_Primaries", UNSPECIFIED))
        if "_Range" in props:            # R74+: 0 = limited, 1 = full
            full = int(props["_Range"]) == 1
        elif "_ColorRange" in props:     # older hosts: 0 = full, 1 = limited
            full = int(props["_ColorRange"]) == 0
        else:
            full = is_rgb
        default = default_matrix(width, height)
        given = {name for name, code in (("matrix", matrix), ("transfer", transfer), ("primaries", primaries))
                 if code != UNSPECIFIED}
        if "_Range" in props or "_ColorRange" in props:
            given.add("range")
        return cls(matrix=(untagged_matrix or default) if matrix == UNSPECIFIED else matrix,
                   transfer=default if transfer == UNSPECIFIED else transfer,
                   primaries=default_primaries(width, height) if primaries == UNSPECIFIED else primaries,
                   full_range=full, tagged=frozenset(given))

    def _written(self) -> list[tuple[str, str, str]]:
        """(stream flag, setparams name, ffmpeg value) of the tags the source had: a guess used to convert
        is not written as if it were known."""
        out = []
        if "range" in self.tagged:
            out.append(("-color_range", "range", "pc" if self.full_range else "tv"))
        for key, flag, name, table, code in (
                ("matrix", "-colorspace", "colorspace", FFMPEG_MATRIX, self.matrix),
                ("transfer", "-color_trc", "color_trc", FFMPEG_TRANSFER, self.transfer),
                ("primaries", "-color_primaries", "color_primaries", FFMPEG_PRIMARIES, self.primaries)):
            if key in self.tagged and code in table:
                out.append((flag, name, table[code]))
        return out

    def ffmpeg_filter(self) -> str | None:
        """A setparams filter putting the tags on the frames (so every encoder writes them), or None."""
        written = self._written()
        return "setparams=" + ":".join(f"{name}={value}" for _, name, value in written) if written else None

    def ffmpeg_tags(self) -> list[str]:
        """The same tags on the output stream, for the muxer."""
        return [arg for flag, _, value in self._written() for arg in (flag, value)]
