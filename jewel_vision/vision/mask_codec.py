"""Masks as single-channel PNGs (how regions travel and are stored) and masks in any form as bool arrays."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["as_bool_mask", "mask_to_png", "png_to_mask"]


def mask_to_png(mask: np.ndarray) -> bytes:
    """bool/float mask [H, W] -> single-channel 8-bit PNG (0 or 255)."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        arr = arr >= 0.5
    buf = io.BytesIO()
    Image.fromarray((arr.astype(np.uint8) * 255), mode="L").save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def png_to_mask(data: bytes) -> np.ndarray:
    """PNG bytes -> bool mask [H, W]."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L")) >= 128


def as_bool_mask(mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """A mask given as bool, uint8 (0-255), float (0..1) or [H, W, C], or None (everything) ->
    bool [H, W] at ``size`` (W, H), resized with nearest neighbours when it differs."""
    width, height = size
    if mask is None:
        return np.ones((height, width), dtype=bool)
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == np.bool_:
        out = arr
    elif arr.dtype == np.uint8:
        out = arr >= 128
    else:
        out = arr.astype(np.float32) >= 0.5
    if out.shape != (height, width):
        im = Image.fromarray(out.astype(np.uint8) * 255, mode="L").resize((width, height), Image.Resampling.NEAREST)
        out = np.asarray(im) >= 128
    return out
