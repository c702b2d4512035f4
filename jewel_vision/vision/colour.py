"""Colour arithmetic shared by the vision core: sRGB -> CIE Lab, hue angles, skin-like
pixels and the palette words for the colours of stones, enamel and beads.

Plain numpy; used by the attribute rules (:mod:`.item_pixels`, :mod:`.metal_tone`,
:mod:`.attributes`), the packshot mask, the stone classifier and the pipeline's worn/packshot check.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["hue_deg", "palette_names", "rgb_to_lab", "skin_fraction", "skin_like"]

_v = np.arange(256, dtype=np.float64) / 255.0
_SRGB_LUT = np.where(_v <= 0.04045, _v / 12.92, ((_v + 0.055) / 1.055) ** 2.4).astype(np.float32)
del _v


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (or float 0..255) [..., 3] -> CIE Lab (D65) float32 [..., 3]."""
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        c = _SRGB_LUT[arr]
    else:
        c = arr.astype(np.float32) / 255.0
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
        dtype=np.float32,
    )
    xyz = c @ m.T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    eps = 216 / 24389
    kappa = 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab.astype(np.float32, copy=False)


def skin_like(rgb: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Skin colours: the classic YCbCr box (Chai & Ngan: Cb 77-127, Cr 133-173) narrowed
    in Lab to hue 25-72 deg and chroma 12-45, which leaves out yellow gold (hue ~75-95).
    Rose gold (hue ~30-55, chroma ~15-30) is inside: they cannot be told apart by colour."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = hue_deg(lab[..., 1], lab[..., 2])
    return (
        (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173) & (y > 60)
        & (hue >= 25) & (hue <= 72) & (chroma >= 12) & (chroma <= 45)
    )


def skin_fraction(image: Image.Image, max_side: int = 96) -> float:
    """Fraction of skin-coloured pixels in ``image`` (on a thumbnail; about a millisecond).

    The pipeline uses it to tell worn jewelry (a ring on a hand: typically 0.2-0.9 of the
    crop around the piece) from packshots (under 0.06 for 95 % of catalogue photos).
    """
    thumb = image.convert("RGB") if image.mode != "RGB" else image.copy()
    thumb.thumbnail((max_side, max_side))
    rgb = np.asarray(thumb, dtype=np.uint8)
    return float(skin_like(rgb, rgb_to_lab(rgb)).mean()) if rgb.size else 0.0


def hue_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(b, a)) % 360.0


def palette_names(lab: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Palette words for pixels (Lab [N, 3] and sRGB uint8 [N, 3]): stones, enamel, beads.

    Neutral pixels (Lab chroma < 10) by lightness: white / silver (grey) / black; the
    rest by HSV hue, which follows colour names more closely than Lab hue: red < 12 or
    >= 345 deg, orange 12-40, yellow 40-70, green 70-170, blue 170-255, purple 255-290,
    pink 290-345; light soft reds are pink, dark soft reds/oranges/yellows brown.
    """
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    c = np.hypot(a, b)
    names = np.full(len(lab), "", dtype=object)
    achro = c < 10
    names[achro & (L >= 80)] = "white"
    names[achro & (L < 80) & (L >= 30)] = "silver"
    names[(L < 30) & (c < 18)] = "black"
    todo = names == ""
    if not todo.any():
        return names
    rgbf = rgb[todo].astype(np.float32) / 255.0
    mx, mn = rgbf.max(1), rgbf.min(1)
    delta = np.maximum(mx - mn, 1e-6)
    r, g, bb = rgbf[:, 0], rgbf[:, 1], rgbf[:, 2]
    h = np.select(
        [mx == r, mx == g],
        [((g - bb) / delta) % 6, (bb - r) / delta + 2],
        default=(r - g) / delta + 4,
    ) * 60.0
    sect = np.select(
        [(h < 12) | (h >= 345), h < 40, h < 70, h < 170, h < 255, h < 290],
        ["red", "orange", "yellow", "green", "blue", "purple"],
        default="pink",
    ).astype(object)
    Lt, ct = L[todo], c[todo]
    sect = np.where((sect == "red") & (Lt > 65) & (ct < 40), "pink", sect)
    brownish = np.isin(sect, ["orange", "yellow", "red"]) & (Lt < 55) & (ct < 45)
    sect = np.where(brownish & ~((sect == "red") & (ct > 35)), "brown", sect)
    names[todo] = sect
    return names
