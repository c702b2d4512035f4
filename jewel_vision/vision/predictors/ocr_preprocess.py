"""Image preparation for reading stamped text: grey, high-pass, CLAHE, unsharp and scaling.

Stamped hallmarks are relief on shiny metal, not ink; these turn the metal's shading into
flat grey and keep the edges of the letters (:class:`~.hallmark_reader.HallmarkReader` tries
them in turn).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["clahe_normalise", "grey", "highpass_normalise", "scale_min_side", "to_rgb_array", "unsharp"]


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """The image as an RGB uint8 array [H, W, 3]."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def grey(image: Image.Image) -> np.ndarray:
    """The image as a grey uint8 array [H, W]."""
    import cv2

    return cv2.cvtColor(to_rgb_array(image), cv2.COLOR_RGB2GRAY)


def highpass_normalise(image: Image.Image, *, frac: float = 8.0, gain: float = 40.0) -> Image.Image:
    """Grey, minus a broad blur (removes the metal's shading/specular gradient), contrast-normalised.

    Stamped text is relief, not ink: it shows as light/dark edges on a surface whose brightness
    drifts far more than the text's own contrast; this leaves mostly the edges.
    """
    import cv2

    g = grey(image).astype(np.float32)
    big = max(g.shape)
    if big > 640:
        # the blur is broad (sigma = size / frac): compute it on a small copy (a 1280 px photo
        # took ~5 s at full size, ~10 ms this way); photos up to 640 px are unchanged
        f = 320.0 / big
        small = cv2.resize(g, (max(1, int(round(g.shape[1] * f))), max(1, int(round(g.shape[0] * f)))),
                           interpolation=cv2.INTER_AREA)
        b = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(small.shape) / frac), (g.shape[1], g.shape[0]),
                       interpolation=cv2.INTER_LINEAR)
    else:
        b = cv2.GaussianBlur(g, (0, 0), big / frac)
    d = g - b
    d = (d - d.mean()) / (d.std() + 1e-3)
    return Image.fromarray(np.clip(128 + gain * d, 0, 255).astype(np.uint8)).convert("RGB")


def clahe_normalise(image: Image.Image, *, clip: float = 2.0, tiles: int = 4) -> Image.Image:
    """Grey with contrast-limited adaptive histogram equalisation, as RGB."""
    import cv2

    c = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles)).apply(grey(image))
    return Image.fromarray(c).convert("RGB")


def unsharp(image: Image.Image, sigma: float = 1.5, amount: float = 1.5) -> Image.Image:
    """Unsharp masking: the image plus ``amount`` times its difference from a Gaussian blur."""
    import cv2

    a = to_rgb_array(image).astype(np.float32)
    b = cv2.GaussianBlur(a, (0, 0), sigma)
    return Image.fromarray(np.clip(a + amount * (a - b), 0, 255).astype(np.uint8))


def scale_min_side(image: Image.Image, target: int, max_side: int) -> tuple[Image.Image, float]:
    """The image scaled so its short side is ``target`` (long side at most ``max_side``), and the factor."""
    w, h = image.size
    f = target / max(1, min(w, h))
    f = min(f, max_side / max(w, h))
    if abs(f - 1.0) < 0.05:
        return image, 1.0
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    return image.resize(size, Image.BICUBIC if f > 1 else Image.LANCZOS), f

