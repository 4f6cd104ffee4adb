"""YUV <-> RGB for the net, honouring the clip's own colour props (sensible defaults when unset)."""
from __future__ import annotations

from dataclasses import dataclass

import vapoursynth as vs

UNSPECIFIED = 2
# ffmpeg names for the H.273 codes we write as colour tags
FFMPEG_MATRIX = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc", 10: "bt2020c"}
FFMPEG_TRANSFER = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 13: "iec61966-2-1", 14: "bt2020-10",
                   15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
FFMPEG_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}


@dataclass(frozen=True)
class Colour:
    matrix: int      # H.273 codes, as VapourSynth's resize takes them (range: 0 limited, 1 full)
    transfer: int
    primaries: int
    full_range: bool

    def ffmpeg_tags(self) -> list[str]:
        """Tags set on the frames (setparams) and on the stream, so every encoder and muxer writes them."""
        params = [f"range={'pc' if self.full_range else 'tv'}"]
        tags = ["-color_range", "pc" if self.full_range else "tv"]
        for flag, name, table, code in (("-colorspace", "colorspace", FFMPEG_MATRIX, self.matrix),
                                        ("-color_trc", "color_trc", FFMPEG_TRANSFER, self.transfer),
                                        ("-color_primaries", "color_primaries", FFMPEG_PRIMARIES, self.primaries)):
            if code in table:
                tags += [flag, table[code]]
                params.append(f"{name}={table[code]}")
        return ["-vf", "setparams=" + ":".join(params), *tags]


def colour_of(clip: vs.VideoNode) -> Colour:
    """The clip's colour description; unset values default by resolution (BT.709 for HD, BT.601 for SD)."""
    props = clip.get_frame(0).props
    hd = clip.width > 1024 or clip.height > 576
    default = 1 if hd else 6
    matrix = int(props.get("_Matrix", UNSPECIFIED))
    transfer = int(props.get("_Transfer", UNSPECIFIED))
    primaries = int(props.get("_Primaries", UNSPECIFIED))
    if "_Range" in props:            # R74+: 0 = limited, 1 = full
        full = int(props["_Range"]) == 1
    elif "_ColorRange" in props:     # older hosts: 0 = full, 1 = limited
        full = int(props["_ColorRange"]) == 0
    else:
        full = clip.format.color_family == vs.RGB
    return Colour(matrix=default if matrix == UNSPECIFIED else matrix,
                  transfer=default if transfer == UNSPECIFIED else transfer,
                  primaries=(1 if hd else 5) if primaries == UNSPECIFIED else primaries,
                  full_range=full)


def to_rgb(clip: vs.VideoNode, colour: Colour) -> vs.VideoNode:
    """Any constant-format clip -> RGBS (float keeps the round trip exact to the source's precision)."""
    family = clip.format.color_family
    if family == vs.RGB:
        return clip.resize.Point(format=vs.RGBS) if clip.format.id != vs.RGBS else clip
    if family == vs.GRAY:
        grey = clip.resize.Point(format=vs.GRAYS, range_in=int(colour.full_range), range=1)
        return grey.std.ShufflePlanes([0, 0, 0], vs.RGB)
    return clip.resize.Bicubic(format=vs.RGBS, matrix_in=colour.matrix, range_in=int(colour.full_range),
                               transfer_in=colour.transfer, primaries_in=colour.primaries)


def from_rgb(rgb: vs.VideoNode, like: vs.VideoNode, colour: Colour) -> vs.VideoNode:
    """RGB back to ``like``'s format with the same colour description (rounded, not dithered)."""
    family = like.format.color_family
    if family == vs.RGB:
        return rgb.resize.Point(format=like.format.id) if rgb.format.id != like.format.id else rgb
    if family == vs.GRAY:
        return rgb.std.ShufflePlanes(0, vs.GRAY).resize.Point(format=like.format.id, range_in=1,
                                                              range=int(colour.full_range), dither_type="none")
    return rgb.resize.Bicubic(format=like.format.id, matrix=colour.matrix, range=int(colour.full_range),
                              transfer=colour.transfer, primaries=colour.primaries, dither_type="none")
