"""Facets ``shape`` (the outline of the item's largest part) and ``texture`` (polished,
textured, sparkling) from the item mask and its luminance: geometry rules, no training."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .item_pixels import ATTRIBUTES_MODEL, ATTRIBUTES_VERSION, Prepared, prepare, sigmoid
from .types import TagPrediction

__all__ = ["SHAPES", "TEXTURES", "shape_and_texture", "shape_texture_tags"]

SHAPES = ("round", "oval", "square", "rectangle", "heart", "drop", "linear", "irregular")
TEXTURES = ("polished", "textured", "sparkling")


def _min_area_rect(points: np.ndarray) -> tuple[float, float]:
    """Side lengths (long, short) of the minimum-area bounding rectangle of 2-D points."""
    from scipy.spatial import ConvexHull

    try:
        hull = points[ConvexHull(points).vertices]
    except Exception:
        span = points.max(0) - points.min(0) + 1
        return float(max(span)), float(min(span))
    best = (float("inf"), 0.0, 0.0)
    for i in range(len(hull)):
        e = hull[(i + 1) % len(hull)] - hull[i]
        norm = math.hypot(float(e[0]), float(e[1]))
        if norm == 0:
            continue
        u = e / norm
        v = np.array([-u[1], u[0]])
        pu, pv = hull @ u, hull @ v
        w, h = float(pu.max() - pu.min() + 1), float(pv.max() - pv.min() + 1)
        if w * h < best[0]:
            best = (w * h, max(w, h), min(w, h))
    return best[1], best[2]


def _shape_features(mask: np.ndarray) -> dict[str, float] | None:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
    big = int(np.argmax(sizes)) + 1
    comp = ndimage.binary_fill_holes(labels == big)
    area = float(comp.sum())
    if area < 30:
        return None
    ys, xs = np.nonzero(comp)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    centre = pts.mean(0)
    cov = np.cov((pts - centre).T)
    evals, evecs = np.linalg.eigh(cov)
    l2, l1 = max(float(evals[0]), 1e-6), max(float(evals[1]), 1e-6)
    axis = evecs[:, 1]
    proj = (pts - centre) @ axis
    skew = float(np.mean(proj**3) / (np.std(proj) ** 3 + 1e-9))
    ellipse_area = math.pi * 4 * math.sqrt(l1 * l2)  # uniform ellipse: var = semi-axis^2 / 4
    edge = comp & ~ndimage.binary_erosion(comp)
    eys, exs = np.nonzero(edge)
    long_side, short_side = _min_area_rect(np.stack([exs, eys], 1).astype(np.float64))
    hull_mask = _hull_mask(comp)
    hull_area = float(hull_mask.sum())
    # notch: the convex deficiency in the wider half along the main axis
    deficiency = hull_mask & ~comp
    dys, dxs = np.nonzero(deficiency)
    wide_sign = -1.0 if skew > 0 else 1.0  # the wide end is opposite the long tail
    if len(dxs):
        dproj = (np.stack([dxs, dys], 1) - centre) @ axis
        notch = float(np.sum(dproj * wide_sign > 0.3 * np.std(proj))) / area
    else:
        notch = 0.0
    return {
        "elongation": math.sqrt(l1 / l2),
        "ellipse_fill": area / ellipse_area,
        "solidity": min(1.0, area / max(hull_area, 1.0)),
        "rect_fill": area / max(long_side * short_side, 1.0),
        "rect_aspect": long_side / max(short_side, 1.0),
        "skew": skew,
        "notch": notch,
        "components": float(n),
    }


def _erode1(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_erosion(mask)


def _hull_mask(comp: np.ndarray) -> np.ndarray:
    """Filled convex hull of a bool mask (PIL polygon fill of the hull vertices)."""
    from PIL import ImageDraw
    from scipy.spatial import ConvexHull

    edge = comp & ~_erode1(comp)
    ys, xs = np.nonzero(edge if edge.any() else comp)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    try:
        hull = pts[ConvexHull(pts).vertices]
    except Exception:
        return comp.copy()
    im = Image.new("L", (comp.shape[1], comp.shape[0]), 0)
    ImageDraw.Draw(im).polygon([(float(x), float(y)) for x, y in hull], fill=255, outline=255)
    return (np.asarray(im) >= 128) | comp


def _shape_scores(f: dict[str, float]) -> dict[str, float]:
    """Fuzzy scores per shape from mask geometry (documented in the card)."""

    def near(x: float, centre: float, width: float) -> float:
        return math.exp(-(((x - centre) / width) ** 2))

    elong, fill, rect, aspect = f["elongation"], f["ellipse_fill"], f["rect_fill"], f["rect_aspect"]
    skew, notch, solid = abs(f["skew"]), f["notch"], f["solidity"]
    ellipse_like = near(fill, 1.0, 0.08) * near(rect, math.pi / 4, 0.07)
    boxy = sigmoid((rect - 0.86) / 0.03)
    sym = sigmoid((0.22 - skew) / 0.06)
    s = {
        "linear": sigmoid((elong - 3.0) / 0.3),
        "round": ellipse_like * near(elong, 1.0, 0.12) * sym,
        "oval": ellipse_like * sigmoid((elong - 1.15) / 0.04) * sigmoid((3.0 - elong) / 0.3) * sym,
        "square": boxy * near(aspect, 1.0, 0.15),
        "rectangle": boxy * sigmoid((aspect - 1.2) / 0.05) * sigmoid((3.0 - elong) / 0.3),
        "drop": sigmoid((skew - 0.22) / 0.06) * sigmoid((solid - 0.9) / 0.03) * sigmoid((3.0 - elong) / 0.3)
        * sigmoid((0.015 - notch) / 0.005),
        "heart": sigmoid((skew - 0.12) / 0.06) * sigmoid((notch - 0.015) / 0.005) * sigmoid((solid - 0.8) / 0.04)
        * sigmoid((1.6 - elong) / 0.15),
    }
    s["irregular"] = max(0.05, 1.0 - max(s.values()))
    return s


def _texture_features(prep: Prepared) -> dict[str, float]:
    from scipy import ndimage

    L = prep.lab[..., 0]
    interior = ndimage.binary_erosion(prep.item, iterations=3)
    n = int(interior.sum())
    if n < 30:
        return {"hf": 0.0, "sparkle": 0.0, "n": float(n)}
    hf = L - ndimage.gaussian_filter(L, 1.5)
    energy = float(np.mean(np.abs(hf[interior])))
    # sparkle: small bright peaks (local maxima well above their surroundings)
    peaks = (hf > 12) & (hf == ndimage.maximum_filter(hf, size=5)) & interior
    sparkle = float(peaks.sum()) * 1000.0 / n
    return {"hf": energy, "sparkle": sparkle, "n": float(n)}


def _texture_probs(t: dict[str, float]) -> dict[str, float]:
    p_sparkle = sigmoid((t["sparkle"] - 6.0) / 1.5)
    p_textured = sigmoid((t["hf"] - 3.5) / 0.7)
    probs = {
        "sparkling": p_sparkle,
        "textured": (1 - p_sparkle) * p_textured,
        "polished": (1 - p_sparkle) * (1 - p_textured),
    }
    return probs


def shape_and_texture(image: Image.Image, item_mask: np.ndarray | None) -> list[TagPrediction]:
    """Facets ``shape`` (top value, plus a runner-up scoring >= 0.5) and ``texture`` (distribution).

    ``shape`` describes the outline of the item's largest connected part with holes
    filled (a ring band seen from the front is "round", a bar or chain "linear", a pair
    of drop earrings "drop"). ``texture`` is from high-frequency luminance energy inside
    the (eroded) mask: "sparkling" = many small bright peaks (pavé stones, facets),
    "textured" = strong fine detail everywhere (filigree, hammered, chains), else "polished".
    """
    return shape_texture_tags(prepare(image, item_mask))


def shape_texture_tags(prep: Prepared) -> list[TagPrediction]:
    """:func:`shape_and_texture` of an already prepared item."""
    out: list[TagPrediction] = []
    feats = _shape_features(prep.item)
    if feats is not None:
        scores = _shape_scores(feats)
        total = sum(scores.values())
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        for i, (name, sc) in enumerate(ranked[:2]):
            if i == 0 or sc >= 0.5:
                out.append(TagPrediction("shape", name, float(sc / total), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION))
    tex = _texture_probs(_texture_features(prep))
    for name, p in sorted(tex.items(), key=lambda kv: -kv[1]):
        out.append(TagPrediction("texture", name, float(p), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION))
    return out
