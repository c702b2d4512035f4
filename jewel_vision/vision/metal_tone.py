"""Facet ``metal_tone`` (yellow / white / rose) from the metal's pixels: the hand-set rules and
the learned head on scene-white-balanced colour statistics (``vision/weights/ATTRIBUTES_CARD.md``)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .colour import hue_deg, rgb_to_lab, skin_like
from .item_pixels import (
    ATTRIBUTES_MODEL,
    ATTRIBUTES_VERSION,
    DEFAULT_TONE_HEAD_PATH,
    Prepared,
    file_version,
    metal_from_mask,
    prepare,
    sigmoid,
    split_metal_stone,
)
from .types import TagPrediction

__all__ = [
    "METAL_TONES", "MetalToneHead", "TONE_FEATURES", "TONE_HEAD_MODEL", "metal_features", "metal_tone",
    "metal_tone_features", "metal_tone_head", "metal_tone_vector", "rules_proba", "tone_probs", "tone_tags", "tone_vector",
]

TONE_HEAD_MODEL = "metal-tone-head"
METAL_TONES = ("yellow", "white", "rose")

# -- metal tone calibration (Lab, after white balancing on a neutral background) --------
# From the median chroma C and hue angle h = atan2(b*, a*) of the metal's mid-tone pixels:
# white when C < WHITE_CHROMA; else rose when h < ROSE_HUE, or when h < PALE_ROSE_HUE and
# C < PALE_ROSE_CHROMA (pale, pinkish-peach gold); else yellow. Soft edges (sigmoids).
# Set on the calibration half of the hand-labelled catalogue photos (groups hashed into
# two halves); the other half is the check set reported in ATTRIBUTES_CARD.md.
# Photos measured: yellow gold h 80-93 (10-90 %), C 18-49; rose gold h 53-81, C 12-25;
# white metal C 0-9.5.
WHITE_CHROMA = 9.5
WHITE_CHROMA_SCALE = 2.0
ROSE_HUE = 70.0
PALE_ROSE_HUE = 84.0
PALE_ROSE_CHROMA = 22.0
HUE_SCALE = 3.0
CHROMA_SCALE = 2.5


def metal_features(prep: Prepared, metal: np.ndarray) -> dict[str, float]:
    """The hand-set rules' inputs: median a*, b*, chroma, hue and L* of the metal's mid-tone pixels."""
    sel = metal & ~prep.highlight
    if sel.sum() < 10:
        sel = metal if metal.sum() >= 10 else prep.core
    if sel.sum() < 3:
        sel = prep.item
    lab = prep.lab[sel]
    if len(lab) == 0:
        return {"a": 0.0, "b": 0.0, "chroma": 0.0, "hue": 0.0, "L": 0.0, "n": 0.0,
                "white_balanced": float(prep.white_balanced)}
    a = float(np.median(lab[:, 1]))
    b = float(np.median(lab[:, 2]))
    return {
        "a": a,
        "b": b,
        "chroma": float(np.median(np.hypot(lab[:, 1], lab[:, 2]))),
        "hue": math.degrees(math.atan2(b, a)) % 360,
        "L": float(np.median(lab[:, 0])),
        "n": float(len(lab)),
        "white_balanced": float(prep.white_balanced),
    }


def metal_tone_features(
    image: Image.Image, item_mask: np.ndarray | None, metal_mask: np.ndarray | None = None
) -> dict[str, float]:
    """Median a*, b*, chroma, hue and L* of the metal's mid-tone pixels (calibration/debugging)."""
    prep = prepare(image, item_mask)
    metal = metal_from_mask(prep, metal_mask) if metal_mask is not None else split_metal_stone(prep)[0]
    return metal_features(prep, metal)


def tone_probs(feat: dict[str, float]) -> dict[str, float]:
    """The hand-set rules: P(yellow, white, rose) from :func:`metal_features`."""
    chroma, hue = feat["chroma"], feat["hue"]
    if hue > 200:  # pinkish-purple side of red wraps to negative angles
        hue -= 360
    p_white = sigmoid((WHITE_CHROMA - chroma) / WHITE_CHROMA_SCALE)
    rose_hue = sigmoid((ROSE_HUE - hue) / HUE_SCALE)
    pale_rose = sigmoid((PALE_ROSE_HUE - hue) / HUE_SCALE) * sigmoid((PALE_ROSE_CHROMA - chroma) / CHROMA_SCALE)
    p_rose_if_coloured = 1 - (1 - rose_hue) * (1 - pale_rose)
    if hue > 130:  # green/blue/purple tint: not a metal colour, count it as white-ish
        p_rose_if_coloured = 0.0
        p_white = max(p_white, 0.5)
    probs = {
        "yellow": (1 - p_white) * (1 - p_rose_if_coloured),
        "white": p_white,
        "rose": (1 - p_white) * p_rose_if_coloured,
    }
    total = sum(probs.values())
    return {k: v / total for k, v in probs.items()}


# -- learned head on scene-white-balanced statistics of the metal pixels ---------------------
#: Reference hue of skin (Lab, degrees): a colour cast shows as skin's a*/b* off this direction.
SKIN_HUE = 55.0
MAX_WB_SHIFT = 15.0  # a*/b* units; larger estimated casts are clipped
TONE_FEATURES = (
    "m_a50", "m_b50", "m_a10", "m_a90", "m_b10", "m_b90", "m_c50", "m_c75", "m_l50",
    "m_hue_x", "m_hue_y", "m_neutral", "m_yellowish", "m_roseish",
    "c_a50", "c_b50", "c_neutral",
    "raw_a50", "raw_b50", "wb_a", "wb_b", "bg_l", "bg_a", "bg_b", "bg_neutral", "skin", "log_n",
    "r_c50", "r_hue_x", "r_hue_y", "r_white", "r_rose",
)


def _scene_white_balance(prep: Prepared, raw: np.ndarray, metal: np.ndarray) -> dict[str, float]:
    """The colour cast of the scene (a*, b* shift) from what surrounds the piece.

    1. Background: the crop's pixels away from the item mask (else the crop's border); when
       >= 30 % of them are fairly bright and only mildly coloured (L > 45, C < 20: paper, grey
       or white card, a light table) their median a*/b* is the cast.
    2. Else skin (a hand, a neck: >= 8 % of the crop skin-like, outside the metal): skin's hue
       varies little across people while its chroma varies a lot, so only the part of its
       a*/b* across the reference skin hue (``SKIN_HUE``) is taken as the cast.
    3. Else none (a coloured velvet or a dark background says nothing reliable).
    The shift is clipped to ``MAX_WB_SHIFT``; the head also sees the background's colour.
    """
    from scipy import ndimage

    item = prep.item
    outside = ~ndimage.binary_dilation(item, iterations=3) if item.any() else np.zeros_like(item)
    if item.all() or not item.any() or outside.sum() < 20:
        outside = np.zeros_like(item)
        bw = max(1, min(item.shape) // 20)
        outside[:bw, :] = outside[-bw:, :] = outside[:, :bw] = outside[:, -bw:] = True
    o = raw[outside]
    oc = np.hypot(o[:, 1], o[:, 2])
    neutral = (o[:, 0] > 45) & (oc < 20)
    frac = float(neutral.mean()) if len(o) else 0.0
    skin_mask = skin_like(prep.rgb, raw) & ~metal
    skin = float(skin_mask.mean()) if skin_mask.size else 0.0
    shift = np.zeros(2, np.float32)
    if frac >= 0.3:
        shift = np.median(o[neutral][:, 1:3], axis=0)
    elif skin >= 0.08:
        s_ab = np.median(raw[skin_mask][:, 1:3], axis=0)
        u = np.array([math.cos(math.radians(SKIN_HUE)), math.sin(math.radians(SKIN_HUE))], np.float32)
        shift = s_ab - float(s_ab @ u) * u
    norm = float(np.hypot(*shift))
    if norm > MAX_WB_SHIFT:
        shift = shift * (MAX_WB_SHIFT / norm)
    med = np.median(o, axis=0) if len(o) else np.zeros(3, np.float32)
    return {
        "wb_a": float(shift[0]), "wb_b": float(shift[1]),
        "bg_l": float(med[0]), "bg_a": float(med[1]), "bg_b": float(med[2]),
        "bg_neutral": frac, "skin": skin,
    }


def tone_vector(prep: Prepared, metal: np.ndarray) -> np.ndarray:
    """``TONE_FEATURES`` of one piece (float32): metal-pixel colour statistics after the scene's white balance."""
    raw = rgb_to_lab(prep.rgb)
    scene = _scene_white_balance(prep, raw, metal)
    wb = raw.copy()
    wb[..., 1] -= scene["wb_a"]
    wb[..., 2] -= scene["wb_b"]
    highlight = prep.item & ((wb[..., 0] > 92) | (wb[..., 0] < 22))
    sel = metal & ~highlight
    if sel.sum() < 10:
        sel = metal if metal.sum() >= 10 else prep.core
    if sel.sum() < 3:
        sel = prep.item if prep.item.any() else np.ones_like(prep.item)
    m = wb[sel]
    a, b = m[:, 1], m[:, 2]
    c = np.hypot(a, b)
    hue = hue_deg(a, b)
    a50, b50 = float(np.median(a)), float(np.median(b))
    c50 = float(np.median(c))
    h50 = math.atan2(b50, a50)
    weight = min(1.0, math.hypot(a50, b50) / 8.0)  # the hue of a near-neutral colour is noise
    core = wb[prep.core] if prep.core.sum() >= 3 else m
    cc = np.hypot(core[:, 1], core[:, 2])
    r = raw[sel]
    f = {
        "m_a50": a50, "m_b50": b50,
        "m_a10": float(np.percentile(a, 10)), "m_a90": float(np.percentile(a, 90)),
        "m_b10": float(np.percentile(b, 10)), "m_b90": float(np.percentile(b, 90)),
        "m_c50": c50, "m_c75": float(np.percentile(c, 75)), "m_l50": float(np.median(m[:, 0])),
        "m_hue_x": weight * math.cos(h50), "m_hue_y": weight * math.sin(h50),
        "m_neutral": float((c < 7).mean()),
        "m_yellowish": float(((c >= 10) & (hue >= 70) & (hue <= 110)).mean()),
        "m_roseish": float(((c >= 8) & ((hue < 65) | (hue > 340))).mean()),
        "c_a50": float(np.median(core[:, 1])), "c_b50": float(np.median(core[:, 2])),
        "c_neutral": float((cc < 7).mean()),
        "raw_a50": float(np.median(r[:, 1])), "raw_b50": float(np.median(r[:, 2])),
        **scene,
        "log_n": math.log1p(float(sel.sum())),
    }
    # the hand-set rules' view (their own white balance and metal pixels) as inputs too
    rf = metal_features(prep, metal)
    rp = tone_probs(rf)
    rw = min(1.0, rf["chroma"] / 8.0)
    f.update({
        "r_c50": rf["chroma"],
        "r_hue_x": rw * math.cos(math.radians(rf["hue"])), "r_hue_y": rw * math.sin(math.radians(rf["hue"])),
        "r_white": math.log((rp["white"] + 1e-4) / (1 - rp["white"] + 1e-4)),
        "r_rose": math.log((rp["rose"] + 1e-4) / (1 - rp["rose"] + 1e-4)),
    })
    return np.array([f[k] for k in TONE_FEATURES], dtype=np.float32)


def metal_tone_vector(
    image: Image.Image, item_mask: np.ndarray | None, metal_mask: np.ndarray | None = None
) -> np.ndarray:
    """The head's input (``TONE_FEATURES``) for one photo; used by training and tests."""
    prep = prepare(image, item_mask)
    metal = metal_from_mask(prep, metal_mask) if metal_mask is not None else split_metal_stone(prep)[0]
    return tone_vector(prep, metal)


def rules_proba(x: np.ndarray) -> np.ndarray:
    """P(yellow, white, rose) [N, 3] of the hand-set rules, from their logits kept in the features
    (``r_white``, ``r_rose``) of ``x`` [N, len(TONE_FEATURES)]."""
    pw = 1 / (1 + np.exp(-x[:, TONE_FEATURES.index("r_white")]))
    pr = 1 / (1 + np.exp(-x[:, TONE_FEATURES.index("r_rose")]))
    p = np.stack([np.clip(1 - pw - pr, 0, 1), pw, pr], 1)
    return p / p.sum(1, keepdims=True)


class MetalToneHead:
    """Softmax regression on standardised ``TONE_FEATURES`` -> P(yellow, white, rose).

    File (``.npz``): ``classes``, ``features`` (names, must equal ``TONE_FEATURES``), ``mean``,
    ``std``, ``W`` [F, K], ``b`` [K], ``thresholds`` [K] (per-label confidence at or above which
    the tone may be shown without review; chosen on validation data). ``version`` = the file's
    SHA-256[:12]. Loaded on first use.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_TONE_HEAD_PATH
        self.version = file_version(self.path)
        self._loaded = False
        self._lock = threading.Lock()

    def load(self) -> "MetalToneHead":
        if self._loaded:
            return self
        with self._lock:
            if not self._loaded:
                with np.load(self.path, allow_pickle=False) as z:
                    features = tuple(str(x) for x in z["features"])
                    if features != TONE_FEATURES:
                        raise ValueError(f"{self.path}: features {features} do not match this code's TONE_FEATURES")
                    self.classes = [str(x) for x in z["classes"]]
                    self.mean = z["mean"].astype(np.float64)
                    self.std = z["std"].astype(np.float64)
                    self.W = z["W"].astype(np.float64)
                    self.b = z["b"].astype(np.float64)
                    self.thresholds = {c: float(t) for c, t in zip(self.classes, z["thresholds"])}
                    # "rules": the hand-set rules' probabilities (kept in the features as logits) with
                    # validated thresholds; "softmax": the learned weights
                    self.kind = str(z["kind"]) if "kind" in z.files else "softmax"
                self._loaded = True
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.load()
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if self.kind == "rules":
            return rules_proba(x)
        z = ((x - self.mean) / self.std) @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def tags(self, x: np.ndarray) -> list[TagPrediction]:
        """Three ``metal_tone`` tags, most likely first, each with its label's threshold."""
        p = self.predict_proba(x)[0]
        return [
            TagPrediction("metal_tone", self.classes[j], float(p[j]), TONE_HEAD_MODEL, self.version,
                          threshold=self.thresholds[self.classes[j]])
            for j in np.argsort(-p, kind="stable")
        ]


_TONE_HEADS: dict[str, MetalToneHead] = {}


def metal_tone_head(path: str | Path | None = None) -> MetalToneHead | None:
    """The (cached) head at ``path`` (default: the shipped file), or None when there is no file."""
    p = Path(path) if path is not None else DEFAULT_TONE_HEAD_PATH
    if not p.is_file():
        return None
    key = f"{p}:{file_version(p)}" if path is not None else str(p)
    head = _TONE_HEADS.get(key)
    if head is None:
        head = _TONE_HEADS[key] = MetalToneHead(p)
    return head


def tone_tags(prep: Prepared, metal: np.ndarray) -> list[TagPrediction]:
    """``metal_tone`` tags of a prepared item: the shipped head, else the rules."""
    head = metal_tone_head()
    if head is None:  # no trained head (a checkout without weights): the rules, without thresholds
        probs = tone_probs(metal_features(prep, metal))
        return [
            TagPrediction("metal_tone", tone, float(p), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION)
            for tone, p in sorted(probs.items(), key=lambda kv: -kv[1])
        ]
    return head.tags(tone_vector(prep, metal))


def metal_tone(
    image: Image.Image, item_mask: np.ndarray | None, metal_mask: np.ndarray | None = None
) -> list[TagPrediction]:
    """Facet ``metal_tone``: yellow / white / rose, probabilities summing to 1 (most likely first).

    Judged from the metal's pixels only: inside ``item_mask`` (and ``metal_mask``
    when given, else the metal split of :func:`material_regions`), excluding pixels
    that look like the surrounding background, smooth skin when the mask holds a hand,
    blown-out highlights and deep shadows, after a white balance estimated from the
    scene (:func:`_scene_white_balance`), by the learned :class:`MetalToneHead`.
    Each tag carries its label's ``threshold``: below it the tone is not shown to
    shoppers (the head abstains); ``rose`` has the highest bar.
    """
    prep = prepare(image, item_mask)
    metal = metal_from_mask(prep, metal_mask) if metal_mask is not None else split_metal_stone(prep)[0]
    return tone_tags(prep, metal)

