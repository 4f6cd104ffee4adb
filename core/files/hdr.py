"""HDR10 static metadata (mastering display, content light level) from a frame's props to the encoders'
own syntax: ffmpeg does not carry it from raw frames, so the encoder has to be told."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class HdrMetadata:
    primaries_x: tuple[float, float, float]   # red, green, blue (CIE 1931 x)
    primaries_y: tuple[float, float, float]
    white: tuple[float, float]
    luminance: tuple[float, float]            # min, max (cd/m2)
    max_cll: int = 0
    max_fall: int = 0

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "HdrMetadata | None":
        """bestsource's props (VapourSynth's, with or without the leading underscore); None without them."""
        def get(name: str) -> Any:
            return props.get(name, props.get("_" + name))
        px, py = get("MasteringDisplayPrimariesX"), get("MasteringDisplayPrimariesY")
        if px is None or py is None or len(px) != 3 or len(py) != 3:
            return None
        return cls(tuple(float(v) for v in px), tuple(float(v) for v in py),
                   (float(get("MasteringDisplayWhitePointX") or 0), float(get("MasteringDisplayWhitePointY") or 0)),
                   (float(get("MasteringDisplayMinLuminance") or 0), float(get("MasteringDisplayMaxLuminance") or 0)),
                   int(get("ContentLightLevelMax") or 0), int(get("ContentLightLevelAverage") or 0))

    def _xy(self, k: int, scale: int) -> tuple[int, int]:
        return round(self.primaries_x[k] * scale), round(self.primaries_y[k] * scale)

    def x265(self) -> str:
        """master-display=G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min) in 1/50000 and 1/10000 cd/m2, and max-cll."""
        (rx, ry), (gx, gy), (bx, by) = (self._xy(k, 50000) for k in range(3))
        wx, wy = (round(v * 50000) for v in self.white)
        lo, hi = (round(v * 10000) for v in self.luminance)
        return f"master-display=G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({hi},{lo}):" \
               f"max-cll={self.max_cll},{self.max_fall}"

    def svtav1(self) -> str:
        """SVT-AV1's mastering-display=G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min) (plain numbers) and content-light."""
        def pair(x: float, y: float) -> str:
            return f"({x:.4f},{y:.4f})"
        r, g, b = ((self.primaries_x[k], self.primaries_y[k]) for k in range(3))
        return (f"mastering-display=G{pair(*g)}B{pair(*b)}R{pair(*r)}WP{pair(*self.white)}"
                f"L({self.luminance[1]:.4f},{self.luminance[0]:.4f}):content-light={self.max_cll},{self.max_fall}")
