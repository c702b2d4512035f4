"""The item's pixels made ready for the colour and shape rules, and the rules' version.

:func:`prepare` crops the image to the item mask, scales it to ``WORK_SIZE``, converts it to
CIE Lab (white balanced on a neutral background) and marks the pixels that look like the
background, smooth skin, blown-out highlights or ink; :func:`split_metal_stone` splits the
remaining item pixels into metal and stone by colour clustering. :mod:`.attributes`,
:mod:`.metal_tone` and :mod:`.shape_texture` all start from one :class:`Prepared`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .colour import rgb_to_lab, skin_like
from .mask_codec import as_bool_mask

__all__ = [
    "ATTRIBUTES_MODEL", "ATTRIBUTES_VERSION", "DEFAULT_TONE_HEAD_PATH", "Prepared", "WORK_SIZE",
    "file_version", "kmeans", "metal_from_mask", "prepare", "sigmoid", "split_metal_stone",
]

ATTRIBUTES_MODEL = "colour-rules"
_RULES_VERSION = "1.0"  # bump whenever a rule or constant below changes

#: The learned metal-tone head (``python -m jewel_vision.training.train_metal_tone``); loaded lazily.
DEFAULT_TONE_HEAD_PATH = Path(__file__).resolve().parent / "weights" / "metal_tone_head.npz"


def file_version(path: Path) -> str:
    """SHA-256[:12] of a file's bytes, or "missing"."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


#: Rules version (+ the tone head's content hash when a head file is shipped): a new or retrained
#: head changes the pipeline version. No file (as now: see ATTRIBUTES_CARD.md section 3b): the rules.
_TONE_HEAD_FILE_VERSION = file_version(DEFAULT_TONE_HEAD_PATH)
ATTRIBUTES_VERSION = (
    _RULES_VERSION if _TONE_HEAD_FILE_VERSION == "missing" else f"{_RULES_VERSION}+tone-{_TONE_HEAD_FILE_VERSION}"
)

WORK_SIZE = 320  # the item's bounding box is analysed at this longest side


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


# ---------------------------------------------------------------------------------------
# Shared preparation: crop to the item, scale, Lab, background/skin/highlight exclusion
# ---------------------------------------------------------------------------------------
@dataclass
class Prepared:
    size: tuple[int, int]  # original (W, H)
    box: tuple[int, int, int, int]  # crop box in original pixels
    rgb: np.ndarray  # uint8 [h, w, 3] working crop
    lab: np.ndarray  # float32 [h, w, 3] (white balanced when the background is neutral)
    item: np.ndarray  # bool [h, w]
    core: np.ndarray  # bool [h, w]: item pixels that are not background-/skin-like or blown out
    highlight: np.ndarray  # bool [h, w]: specular highlights / deep shadows inside the item
    bg_like: np.ndarray  # bool [h, w]: looks like the surrounding background or smooth skin
    full_item: np.ndarray  # bool [H, W] at original size
    white_balanced: bool

    def upsample(self, work_mask: np.ndarray) -> np.ndarray:
        """A working-crop mask -> bool mask at the original image size (inside the item)."""
        x0, y0, x1, y1 = self.box
        im = Image.fromarray(work_mask.astype(np.uint8) * 255, mode="L").resize(
            (x1 - x0, y1 - y0), Image.Resampling.NEAREST
        )
        out = np.zeros((self.size[1], self.size[0]), dtype=bool)
        out[y0:y1, x0:x1] = np.asarray(im) >= 128
        return out & self.full_item


def kmeans(x: np.ndarray, k: int, iters: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic k-means (k-means++ init with a fixed seed). Returns centres, labels."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [x[int(rng.integers(n))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:
            break
        idx = int(np.searchsorted(np.cumsum(d2), rng.random() * total))
        centres.append(x[min(idx, n - 1)])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres).astype(np.float32)
    x = np.asarray(x, dtype=np.float32)
    x2 = (x * x).sum(1, keepdims=True)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        # squared distances as |x|^2 - 2 x.c + |c|^2 (one matrix product, no n x k x d array)
        labels = (x2 - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]).argmin(1)
        counts = np.bincount(labels, minlength=len(c)).astype(np.float32)
        sums = np.stack([np.bincount(labels, weights=x[:, d], minlength=len(c)) for d in range(x.shape[1])], 1)
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], c).astype(np.float32)
        if np.allclose(new, c, atol=1e-3):
            c = new
            break
        c = new
    return c, labels


def prepare(image: Image.Image, item_mask: np.ndarray | None) -> Prepared:
    from scipy import ndimage

    img = image if image.mode == "RGB" else image.convert("RGB")
    width, height = img.size
    full_item = as_bool_mask(item_mask, img.size)
    ys, xs = np.nonzero(full_item)
    if len(xs) == 0:
        x0, y0, x1, y1 = 0, 0, width, height
    else:
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        mx = max(4, int(0.12 * (x1 - x0)))
        my = max(4, int(0.12 * (y1 - y0)))
        x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)
    crop = img.crop((x0, y0, x1, y1))
    scale = min(1.0, WORK_SIZE / max(crop.size))
    wsize = (max(1, round(crop.size[0] * scale)), max(1, round(crop.size[1] * scale)))
    if wsize != crop.size:
        crop = crop.resize(wsize, Image.Resampling.BILINEAR, reducing_gap=2.0)
    rgb = np.asarray(crop, dtype=np.uint8)
    item_im = Image.fromarray(full_item[y0:y1, x0:x1].astype(np.uint8) * 255, mode="L")
    item = np.asarray(item_im.resize(wsize, Image.Resampling.NEAREST)) >= 128
    lab = rgb_to_lab(rgb)

    # Background colours: what surrounds the item (crop pixels outside a dilated mask).
    outside = ~ndimage.binary_dilation(item, iterations=2) if item.any() else np.zeros_like(item)
    if item.all() or not item.any():
        # no usable outside (mask = whole image): use the image border instead
        border = np.zeros_like(item)
        bw = max(1, min(item.shape) // 20)
        border[:bw, :] = border[-bw:, :] = border[:, :bw] = border[:, -bw:] = True
        outside = border
    bg_centres: list[np.ndarray] = []
    white_balanced = False
    out_lab = lab[outside]
    if len(out_lab) >= 20:
        sample = out_lab[:: max(1, len(out_lab) // 3000)]
        centres, labels = kmeans(sample * np.array([0.5, 1, 1], np.float32), 3, seed=1)
        counts = np.bincount(labels, minlength=len(centres))
        for j in np.argsort(-counts, kind="stable"):  # biggest first
            if counts[j] >= 0.12 * len(sample):
                bg_centres.append(centres[j] / np.array([0.5, 1, 1], np.float32))
        # White balance on a bright, nearly neutral background (packshots): shift a*, b*.
        main = bg_centres[0] if bg_centres else None
        if main is not None and main[0] > 70 and math.hypot(float(main[1]), float(main[2])) < 12:
            lab = lab.copy()
            lab[..., 1] -= main[1]
            lab[..., 2] -= main[2]
            white_balanced = True
            bg_centres = [np.array([c[0], c[1] - main[1], c[2] - main[2]], np.float32) for c in bg_centres]

    L, A, B = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(A, B)
    bg_like = np.zeros_like(item)
    if bg_centres:
        # distance with L down-weighted: shading changes L, not the background's hue
        for c in bg_centres:
            d = np.sqrt(((L - c[0]) * 0.5) ** 2 + (A - c[1]) ** 2 + (B - c[2]) ** 2)
            bg_like |= d < 8.0
    # Skin: only excluded when a lot of the item looks like skin (the mask holds a hand).
    skin = skin_like(rgb, lab) & item
    if item.any() and skin.sum() > 0.35 * item.sum():
        grad = ndimage.gaussian_gradient_magnitude(L, 1.0)
        bg_like |= skin & (grad < 4.0)  # smooth skin; shiny metal has strong gradients
    paper = (L > 96) & (chroma < 4)  # pure white paper or blown-out pixels
    ink = L < 6
    # Inside the mask, background-looking pixels are background only where they form
    # sizeable patches (the hole of a ring, gaps in filigree, skin between prongs);
    # small specks are part of the item: sparkle of white stones, reflections.
    suspect = (bg_like | paper | ink) & item
    if suspect.any():
        lab_cc, n_cc = ndimage.label(suspect)
        sizes = np.bincount(lab_cc.ravel(), minlength=n_cc + 1)
        big = sizes >= max(30, 0.01 * int(item.sum()))
        big[0] = False
        bg_like = (bg_like & ~item) | big[lab_cc]
    highlight = item & ((L > 92) | (L < 22))
    core = item & ~bg_like
    return Prepared(
        size=(width, height),
        box=(x0, y0, x1, y1),
        rgb=rgb,
        lab=lab,
        item=item,
        core=core,
        highlight=highlight,
        bg_like=bg_like,
        full_item=full_item,
        white_balanced=white_balanced,
    )


# ---------------------------------------------------------------------------------------
# Metal / stone split
# ---------------------------------------------------------------------------------------
def _metal_plausible(centre: np.ndarray) -> float:
    """How much a Lab colour looks like a jewelry metal (0..1)."""
    L, a, b = (float(v) for v in centre)
    c = math.hypot(a, b)
    h = math.degrees(math.atan2(b, a)) % 360
    if c < 12:  # grey / white metal (and shadows on it)
        return 1.0 if L > 25 else 0.6
    if 15 <= h <= 110 and c < 50:  # rose .. yellow, not saturated like a stone
        return 1.0 if L > 30 else 0.7
    if 40 <= h <= 105 and c < 85:  # saturated gold (warm light, drawings) -- or a yellow stone
        return 0.6
    if (h >= 350 or h < 15) and c < 30:  # pinkish rose gold
        return 0.6
    return 0.0


def split_metal_stone(prep: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(metal, stone) bool masks on the working crop, and the metal's Lab centre."""
    from scipy import ndimage

    core = prep.core
    n = int(core.sum())
    if n < 12:
        return core.copy(), np.zeros_like(core), None
    lab = prep.lab
    feats = lab[core] * np.array([0.35, 1.0, 1.0], np.float32)  # clustering weighs colour over shading
    step = max(1, n // 6000)
    centres, _ = kmeans(feats[::step], 5, seed=0)
    dist = ((feats[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    labels = dist.argmin(1)
    counts = np.bincount(labels, minlength=len(centres)).astype(np.float64)
    centres_lab = centres / np.array([0.35, 1.0, 1.0], np.float32)
    plaus = np.array([_metal_plausible(c) for c in centres_lab])
    # Metal reference: the biggest metal-looking colour; weigh mid-tones over shadows.
    score = counts * plaus * np.array([1.0 if c[0] > 30 else 0.5 for c in centres_lab])
    if score.max() <= 0:
        # nothing looks like metal: all stone / enamel (e.g. a loose gem, a bead necklace)
        stone_core = np.ones(len(labels), dtype=bool)
        metal_ref = None
    else:
        ref = int(np.argmax(score))
        if math.hypot(float(centres_lab[ref][1]), float(centres_lab[ref][2])) < 12:
            # A grey/white winner next to a sizeable clearly yellow/rose cluster: white stones
            # (pavé diamonds, pearls) on yellow/rose metal are far more common than the reverse,
            # so the coloured cluster is taken as the metal (two-tone pieces read as yellow/rose).
            cands = [
                j for j, c in enumerate(centres_lab)
                if plaus[j] > 0 and c[0] > 30 and math.hypot(float(c[1]), float(c[2])) >= 14
                and 20 <= math.degrees(math.atan2(float(c[2]), float(c[1]))) % 360 <= 110
                and counts[j] >= 0.25 * counts[ref]
            ]
            if cands:
                ref = max(cands, key=lambda j: counts[j])
        metal_ref = centres_lab[ref]
        ref_c = math.hypot(float(metal_ref[1]), float(metal_ref[2]))
        is_stone = np.zeros(len(centres), dtype=bool)
        for j, c in enumerate(centres_lab):
            if j == ref:
                continue
            cj = math.hypot(float(c[1]), float(c[2]))
            dab = math.hypot(float(c[1] - metal_ref[1]), float(c[2] - metal_ref[2]))
            if c[0] < 22:
                # deep shadow / dark reflection: metal unless clearly coloured
                is_stone[j] = cj > 25 and dab > 25
            elif ref_c >= 14:  # coloured metal (yellow / rose)
                # Shading keeps a metal's hue and scales its chroma with lightness, so
                # compare hue and chroma/L: a different hue (stones, enamel), a neutral
                # white/grey (diamonds, pearls, crystals) or a much more saturated colour.
                ref_h = math.degrees(math.atan2(float(metal_ref[2]), float(metal_ref[1])))
                hj = math.degrees(math.atan2(float(c[2]), float(c[1])))
                dh = abs((hj - ref_h + 180) % 360 - 180)
                sat = (cj / max(float(c[0]), 10.0)) / (ref_c / max(float(metal_ref[0]), 10.0))
                is_stone[j] = (cj >= 8 and dh > 25) or (sat < 0.4 and c[0] > 45) or sat > 2.0
            else:  # white metal: only coloured clusters can be told apart
                is_stone[j] = cj > 18 and dab > 16
        stone_core = is_stone[labels]
    stone = np.zeros_like(core)
    stone[core] = stone_core
    # tidy: remove speckle, keep the item's outline
    stone = ndimage.binary_opening(stone, iterations=1) & core
    stone = ndimage.binary_closing(stone, iterations=1) & prep.item
    metal = core & ~stone
    return metal, stone, metal_ref



def metal_from_mask(prep: Prepared, metal_mask: np.ndarray) -> np.ndarray:
    """A given full-size metal mask on the working crop, inside the item's counted pixels."""
    x0, y0, x1, y1 = prep.box
    mm = as_bool_mask(metal_mask, prep.size)[y0:y1, x0:x1]
    mm_im = Image.fromarray(mm.astype(np.uint8) * 255, mode="L").resize(
        (prep.item.shape[1], prep.item.shape[0]), Image.Resampling.NEAREST
    )
    return (np.asarray(mm_im) >= 128) & prep.core

