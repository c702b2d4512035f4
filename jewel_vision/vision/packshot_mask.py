"""The item mask of a packshot: a piece lying on a plain background.

The detector (trained on rings worn on hands) does not follow a piece on a plain
background well, and u2netp does but costs ~0.8 s a photo on CPU. On a packshot the
background itself is the cheap cue: it is what the border shows.

1. **Background model**: a smooth surface (quadratic in x and y, per Lab channel, fitted
   robustly to a strip along the border) covers flat colours, linear and radial gradients
   and vignetting.
2. **Plain?** The photo counts as a packshot when the border strip is explained by that
   surface (the spread of its residual is small) and few border pixels stand out from it,
   so a hand or an arm entering the frame, a scene or a busy texture is not a packshot.
3. **Foreground**: pixels whose colour (lightly blurred) is far from the surface, with a
   threshold above the border's own noise. Shadows are darker, keep the background's hue and
   are smooth: such pixels count only where there is an edge nearby (metal has edges, a soft
   shadow has none). Specks are dropped, thin gaps bridged, and enclosed holes are kept as
   holes when they show background (the middle of a ring) but filled when small or when they
   do not (a highlight on the metal, a smooth stretch of a silver band).
4. **Sure?** The result is refused (``mask`` None, ``reason`` says why) when it is empty,
   covers most of the photo, touches the border a lot, or is mostly skin-coloured (a
   hand on a plain table).

All of it is numpy/scipy/OpenCV on a reduced copy (``work_side``), a few milliseconds a
photo. Parameters: :class:`PackshotParams`; how they were chosen and what they measure:
``jewel_vision/vision/weights/PACKSHOT_MASK_CARD.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .colour import rgb_to_lab, skin_like

__all__ = ["PACKSHOT_MASK_VERSION", "PackshotParams", "PackshotMask", "packshot_mask", "background_surface"]

#: Bump when the method or its defaults change (it is part of the pipeline's version).
PACKSHOT_MASK_VERSION = "pm1"


@dataclass(frozen=True)
class PackshotParams:
    work_side: int = 384  # the long side the mask is computed at (then scaled back up)
    border: float = 0.04  # width of the border strip, as a fraction of the short side
    max_border_spread: float = 6.0  # 95th percentile of the strip's residual (Delta E) of a plain background
    max_border_outliers: float = 0.03  # fraction of strip pixels far from the surface that still count as plain
    blur_sigma: float = 0.0  # pixels (work size) blurred before colour distances (grain, weave, JPEG)
    min_threshold: float = 8.0  # Delta E from the background surface above which a pixel may be the piece...
    noise_factor: float = 2.5  # ...and at least this many times the strip's 99th-percentile residual
    shadow_chroma: float = 6.0  # darker pixels within this chroma distance of the background may be shadow...
    edge_threshold: float = 6.0  # ...and count only with a Lab edge (gradient, Delta E/px) at least this near them
    edge_reach: int = 1  # how near (pixels, work size)
    low_threshold: float = 0.0  # hysteresis: pixels this far from the surface (and 1.5x the strip's noise)...
    # ...join the piece when connected to it (the pale inside of a white-gold band); 0: off
    close_radius: int = 1  # closing that bridges thin gaps (pixels, work size)
    min_component: float = 0.02  # components smaller than this fraction of the largest are dropped
    hole_fill_fraction: float = 0.01  # enclosed holes smaller than this fraction of the piece are filled
    hole_bg_fraction: float = 0.5  # larger holes stay holes when at least this fraction of them looks like background:
    hole_threshold: float = 4.0  # Delta E from the surface under which (and under 1.5x the strip's noise) a hole pixel does
    min_area: float = 0.002  # the mask covers at least this fraction of the photo...
    max_area: float = 0.75  # ...and at most this
    max_border_touch: float = 0.08  # fraction of the outermost ring of pixels the mask may cover
    max_skin: float = 1.0  # a large mask (over skin_area of the photo) that is mostly skin-coloured is a hand...
    skin_area: float = 0.12  # ...not a piece (rose gold is skin-coloured too, so small ones pass)


@dataclass
class PackshotMask:
    """What :func:`packshot_mask` found; ``mask`` is None when the photo is no (sure) packshot."""

    mask: np.ndarray | None  # bool [H, W] at the image's size
    plain: bool  # the border looks like a plain background
    reason: str  # "ok" or why the mask was refused
    stats: dict = field(default_factory=dict)


def _lab(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _strip(h: int, w: int, b: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[:b] = m[-b:] = True
    m[:, :b] = m[:, -b:] = True
    return m


def background_surface(lab: np.ndarray, strip: np.ndarray, iterations: int = 3, step: int = 3) -> np.ndarray:
    """Surface [H, W, 3]: a quadratic in x, y per channel, fitted to every ``step``-th strip pixel
    with trimmed refits (what stands out from the fit is left out of the next one)."""
    h, w = strip.shape
    ys, xs = np.nonzero(strip)
    ys, xs = ys[::step], xs[::step]
    x = xs.astype(np.float32) / max(w - 1, 1) - 0.5
    y = ys.astype(np.float32) / max(h - 1, 1) - 0.5
    A = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], -1)
    v = lab[ys, xs]
    keep = np.ones(len(ys), bool)
    coef = np.zeros((6, 3), np.float32)
    for _ in range(iterations):
        coef, *_ = np.linalg.lstsq(A[keep], v[keep], rcond=None)
        r = np.linalg.norm(A @ coef - v, axis=1)
        cut = max(3.0 * 1.4826 * float(np.median(r[keep])) + 1.0, 2.0)
        keep = r <= cut
        if keep.sum() < 0.5 * len(keep):  # most of the strip is not background: keep the better half
            keep = r <= np.percentile(r, 50)
    gx = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)[None, :, None]
    gy = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5)[:, None, None]
    c = coef.astype(np.float32)
    surface = (c[0] + c[2] * gy + c[5] * gy * gy) + (c[1] + c[3] * gx) * gx + c[4] * gx * gy
    return surface.astype(np.float32)


def _components(mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(labels, n, sizes[n + 1]) of 8-connected components (label 0: outside)."""
    import cv2

    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    sizes = np.bincount(labels.ravel(), minlength=n)
    sizes[0] = 0
    return labels, n - 1, sizes


def _holes(mask: np.ndarray) -> np.ndarray:
    """Pixels outside ``mask`` not 4-connected to the image border (enclosed by the mask)."""
    import cv2

    n, labels = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = np.ones(n, bool)
    enclosed[outside] = False
    enclosed[0] = False
    return enclosed[labels]


def packshot_mask(image: Image.Image, params: PackshotParams | None = None) -> PackshotMask:
    """The piece's mask when ``image`` is a packshot on a plain background (see the module doc)."""
    import cv2

    p = params or PackshotParams()
    img = image.convert("RGB") if image.mode != "RGB" else image
    W, H = img.size
    scale = min(1.0, p.work_side / max(W, H))
    small = img if scale >= 1.0 else img.resize((max(8, round(W * scale)), max(8, round(H * scale))), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.uint8)
    if p.blur_sigma > 0:
        rgb_b = cv2.GaussianBlur(rgb, (0, 0), p.blur_sigma)
    else:
        rgb_b = rgb
    lab = _lab(rgb_b)
    h, w = lab.shape[:2]
    b = max(2, int(round(p.border * min(h, w))))
    strip = _strip(h, w, b)
    surface = background_surface(lab, strip)
    diff = lab - surface
    dist = np.linalg.norm(diff, axis=2)
    r_strip = dist[strip]
    spread = float(np.percentile(r_strip, 95))
    noise = float(np.percentile(r_strip, 99))
    thr = max(p.min_threshold, p.noise_factor * min(noise, p.max_border_spread))
    outliers = float((r_strip > thr).mean())
    stats = {"spread": spread, "outliers": outliers, "threshold": thr}
    plain = spread <= p.max_border_spread and outliers <= p.max_border_outliers
    if not plain:
        return PackshotMask(None, False, "busy background", stats)

    cand = dist > thr
    # shadow-like: darker than the background, close to its chroma
    chroma_d = np.hypot(diff[..., 1], diff[..., 2])
    shadowish = cand & (diff[..., 0] < 0) & (chroma_d < p.shadow_chroma)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    grad = np.sqrt((gx * gx + gy * gy).sum(2))
    edges = grad >= p.edge_threshold
    if p.edge_reach > 0:
        k = 2 * p.edge_reach + 1
        edges = cv2.dilate(edges.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    fg = cand & ~(shadowish & ~edges)
    if p.low_threshold > 0:
        low = max(p.low_threshold, 1.5 * min(noise, p.max_border_spread))
        weak = (dist > low) & ~((diff[..., 0] < 0) & (chroma_d < p.shadow_chroma) & ~edges)
        wl, wn, _ = _components(weak | fg)
        if wn:
            hit = np.zeros(wn + 1, bool)
            hit[np.unique(wl[fg])] = True
            hit[0] = False
            fg = hit[wl]
    if p.close_radius > 0:
        k = 2 * p.close_radius + 1
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    lab_c, n, sizes = _components(fg)
    if n == 0:
        return PackshotMask(None, True, "nothing found", stats)
    keep = sizes >= max(4.0, p.min_component * sizes.max())
    keep[0] = False
    fg = keep[lab_c]
    # holes: keep those that show background, fill small ones and those that do not
    holes = _holes(fg)
    hl, hn, hs = _components(holes)
    if hn:
        area = float(fg.sum())
        hole_thr = max(p.hole_threshold, 1.5 * min(noise, p.max_border_spread))
        bgish = np.bincount(hl.ravel(), weights=(dist <= hole_thr).ravel(), minlength=hn + 1) / np.maximum(hs, 1)
        fill = (hs < p.hole_fill_fraction * area) | (bgish < p.hole_bg_fraction)
        fill[0] = False
        fg = fg | fill[hl]
    frac = float(fg.mean())
    ring = _strip(h, w, 1)
    touch = float(fg[ring].mean())
    stats.update(area=frac, touch=touch)
    if frac < p.min_area:
        return PackshotMask(None, True, "too small", stats)
    if frac > p.max_area:
        return PackshotMask(None, True, "too large", stats)
    if touch > p.max_border_touch:
        return PackshotMask(None, True, "touches the border", stats)
    if p.max_skin < 1.0 and frac > p.skin_area:
        skin = float(skin_like(rgb[fg], rgb_to_lab(rgb[fg])).mean())
        stats["skin"] = skin
        if skin > p.max_skin:
            return PackshotMask(None, True, "skin", stats)
    if scale < 1.0:
        fg = np.asarray(Image.fromarray(fg.astype(np.uint8) * 255).resize((W, H), Image.Resampling.BILINEAR)) >= 128
    return PackshotMask(fg, True, "ok", stats)
