"""Drawn metal pieces with shading and optional stones, with their masks: synthetic training
data for the stone head ("none" and "pearl" support) and the drawn half of the metal-tone check
(``python -m jewel_vision.training.train_stones check-attributes``)."""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["BACKGROUNDS", "METAL_RGB", "STONE_RGB", "draw_piece", "synthetic_training_set"]

METAL_RGB = {
    "yellow": [(212, 175, 55), (230, 190, 80), (218, 165, 32), (207, 181, 59), (201, 166, 90), (240, 200, 100), (190, 150, 60)],
    "white": [(200, 200, 205), (229, 228, 226), (192, 192, 192), (170, 169, 173), (215, 215, 210), (185, 190, 195), (225, 225, 230)],
    "rose": [(214, 150, 130), (183, 110, 121), (224, 160, 140), (236, 178, 160), (200, 130, 110), (215, 140, 125), (230, 165, 150)],
}
BACKGROUNDS = {
    "white": [(255, 255, 255), (248, 248, 246), (240, 240, 240), (235, 236, 238)],
    "grey": [(200, 200, 200), (170, 172, 175), (120, 120, 122)],
    "skin": [(224, 172, 140), (198, 134, 66), (141, 85, 36), (255, 219, 172), (241, 194, 125), (232, 190, 170), (170, 120, 90)],
    "colour": [(60, 90, 160), (70, 140, 90), (30, 30, 30), (120, 20, 30), (230, 220, 200), (20, 40, 80), (250, 230, 235)],
}
STONE_RGB = {
    "red": (200, 20, 40), "blue": (30, 60, 190), "green": (20, 150, 60), "purple": (120, 40, 160),
    "clear": (235, 240, 250), "pearl": (240, 235, 225),
}


def _shade(rgb: Sequence[int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def draw_piece(
    tone: str, bg_kind: str, rng: random.Random, size: int = 256, stone: str | None = None, kind: str | None = None
) -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray]:
    """A drawn metal piece with shading: (image, item mask, metal mask, stone mask)."""
    base = rng.choice(METAL_RGB[tone])
    bg = rng.choice(BACKGROUNDS[bg_kind])
    img = Image.new("RGB", (size, size), bg)
    if bg_kind == "skin":
        arr = np.asarray(img).astype(np.float32)
        xx = np.mgrid[0:size, 0:size][1]
        arr *= (0.9 + 0.15 * np.sin(xx / size * 3 + rng.random() * 6))[..., None]
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    metal = Image.new("L", (size, size), 0)
    md = ImageDraw.Draw(metal)
    d = ImageDraw.Draw(img)
    kind = kind or rng.choice(["ring", "band", "bar", "disc", "hoop"])
    c = size // 2
    if kind in ("ring", "hoop", "band"):
        r = rng.randint(int(size * 0.25), int(size * 0.38))
        ry = int(r * rng.uniform(0.6, 1.0))
        w = rng.randint(8, 22) if kind != "band" else rng.randint(22, 40)
        phase = rng.randint(0, 40)
        for a0 in range(0, 360, 6):
            f = 0.75 + 0.45 * math.cos(math.radians(a0 * 2 + phase))
            d.arc((c - r, c - ry, c + r, c + ry), a0, a0 + 7, fill=_shade(base, f), width=w)
        md.ellipse((c - r, c - ry, c + r, c + ry), outline=255, width=w)
        d.arc((c - r + w // 3, c - ry + w // 3, c + r - w // 3, c + ry - w // 3), 200, 240,
              fill=_shade(base, 1.5), width=max(2, w // 5))
    elif kind == "bar":
        x0, x1 = int(size * 0.1), int(size * 0.9)
        h = rng.randint(14, 30)
        for y in range(c - h // 2, c + h // 2):
            f = 0.7 + 0.6 * math.sin(math.pi * (y - (c - h // 2)) / h)
            d.line((x0, y, x1, y), fill=_shade(base, f))
        md.rectangle((x0, c - h // 2, x1, c + h // 2 - 1), fill=255)
    else:  # disc pendant
        r = rng.randint(int(size * 0.2), int(size * 0.32))
        for k in range(r, 0, -2):
            f = 0.7 + 0.5 * (1 - k / r)
            o = (r - k) // 3
            d.ellipse((c - k - o, c - k - o, c + k - o, c + k - o), fill=_shade(base, f))
        md.ellipse((c - r, c - r, c + r, c + r), fill=255)
    stone_m = Image.new("L", (size, size), 0)
    if stone:
        sd = ImageDraw.Draw(stone_m)
        n_stones = 1 if stone != "pearl" or rng.random() < 0.5 else rng.randint(2, 5)
        for i in range(n_stones):
            sr = rng.randint(12, 24)
            sx = c + (i - n_stones // 2) * (2 * sr + 2)
            sy = c - int(size * 0.3) if kind in ("ring", "hoop", "band") else c
            col = STONE_RGB[stone]
            if stone == "pearl":
                for k in range(sr, 0, -1):  # soft round shading with a highlight
                    f = 0.78 + 0.28 * (1 - k / sr)
                    d.ellipse((sx - k - (sr - k) // 3, sy - k - (sr - k) // 3, sx + k - (sr - k) // 3, sy + k - (sr - k) // 3),
                              fill=_shade(col, f))
            else:
                d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=col)
                facet = _shade(col, 0.6) if stone != "clear" else (150, 160, 180)
                for j in range(6):
                    a = j * math.pi / 3
                    d.line((sx, sy, sx + sr * math.cos(a), sy + sr * math.sin(a)), fill=facet, width=1)
            sd.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=255)
            md.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=0)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    noise = np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 3, (size, size, 3))
    img = Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))
    sm = np.asarray(stone_m) > 127
    mm = np.asarray(metal) > 127
    return img, mm | sm, mm & ~sm, sm


def synthetic_training_set(n_per_class: int, seed: int) -> tuple[list[Image.Image], list[str]]:
    """``n_per_class`` drawn pieces for each stone class (none, diamond, pearl, coloured), and their labels."""
    rng = random.Random(seed)
    images, labels = [], []
    for cls, stones in (("none", [None]), ("diamond", ["clear"]), ("pearl", ["pearl"]),
                        ("coloured", ["red", "blue", "green", "purple"])):
        for _ in range(n_per_class):
            tone = rng.choice(list(METAL_RGB))
            bg = rng.choice(["white", "white", "grey", "skin", "colour"])
            img = draw_piece(tone, bg, rng, stone=rng.choice(stones))[0]
            images.append(img)
            labels.append(cls)
    return images, labels
