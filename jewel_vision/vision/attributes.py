"""Colour, material, shape and texture attributes from an item mask (rules, no training).

Everything here is deterministic colour/geometry arithmetic on the pixels inside
an item mask (usually from :class:`~jewel_vision.vision.predictors.segmenter.ItemSegmenter`).
No network is run. The numbers (thresholds, prototypes) were chosen on drawn
swatches and checked on hand-labelled catalogue photos; the method, the check
sets and the measured accuracy are in ``vision/weights/ATTRIBUTES_CARD.md``.

Public functions (all take a PIL image and an item mask ``[H, W]``, float 0..1 or
bool, at the image's size; ``None`` means "the whole image"):

``material_regions(image, item_mask)``
    ``[Region("item"), Region("metal"), Region("stone")]`` (metal/stone only when
    non-empty): pixels of the item split by colour clustering in CIE Lab.
``metal_tone(image, item_mask, metal_mask=None)``
    facet ``metal_tone``: yellow / white / rose, three tags summing to 1.
``colours(image, item_mask)``
    facet ``colour``: named colours of the item with their pixel fractions.
``shape_and_texture(image, item_mask)``
    facets ``shape`` (outline of the largest part) and ``texture``.

Vocabulary decision (honest by construction): the colour of a metal says
nothing reliable about what it is made of -- 9k and 22k gold, gold plating,
brass and bronze are all "yellow"; silver, white gold, platinum, rhodium-plated
anything and steel are all "white". So this module never emits facet ``metal``
(gold/silver/platinum); that must come from a hallmark (OCR of "750", "925",
"PT950" ...) or from shop data. It emits ``metal_tone`` only, and ``colour``
uses the colour words gold/silver/rose for metal pixels, which describe a
colour, not a material.

Limits (see the card): a white-metal piece set with diamonds cannot be split
into metal and stone by colour (both are grey/white); specular highlights on
yellow gold can be taken for small white stones; a rose-gold item on a skin
background loses the pixels that look like skin; a yellow stone on yellow gold
is merged into the metal.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .types import Region, TagPrediction

__all__ = [
    "ATTRIBUTES_MODEL",
    "ATTRIBUTES_VERSION",
    "COLOUR_PALETTE",
    "METAL_TONES",
    "SHAPES",
    "TEXTURES",
    "colours",
    "describe",
    "dominant_colour",
    "material_regions",
    "mask_to_png",
    "MetalToneHead",
    "metal_tone",
    "metal_tone_features",
    "metal_tone_head",
    "metal_tone_vector",
    "png_to_mask",
    "rgb_to_lab",
    "shape_and_texture",
]

ATTRIBUTES_MODEL = "colour-rules"
_RULES_VERSION = "1.0"  # bump whenever a rule or constant below changes

#: The learned metal-tone head (``python -m jewel_vision.training.train_metal_tone``); loaded lazily.
DEFAULT_TONE_HEAD_PATH = Path(__file__).resolve().parent / "weights" / "metal_tone_head.npz"
TONE_HEAD_MODEL = "metal-tone-head"


def _file_version(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


#: Rules version (+ the tone head's content hash when a head file is shipped): a new or retrained
#: head changes the pipeline version. No file (as now: see ATTRIBUTES_CARD.md section 3b): the rules.
_TONE_HEAD_FILE_VERSION = _file_version(DEFAULT_TONE_HEAD_PATH)
ATTRIBUTES_VERSION = (
    _RULES_VERSION if _TONE_HEAD_FILE_VERSION == "missing" else f"{_RULES_VERSION}+tone-{_TONE_HEAD_FILE_VERSION}"
)

METAL_TONES = ("yellow", "white", "rose")
COLOUR_PALETTE = (
    "gold", "silver", "rose", "white", "black", "red", "pink", "orange", "yellow",
    "green", "blue", "purple", "brown", "multicolour",
)
SHAPES = ("round", "oval", "square", "rectangle", "heart", "drop", "linear", "irregular")
TEXTURES = ("polished", "textured", "sparkling")

WORK_SIZE = 320  # the item's bounding box is analysed at this longest side

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


# ---------------------------------------------------------------------------------------
# Colour arithmetic
# ---------------------------------------------------------------------------------------
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


def _skin_like(rgb: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Skin colours: the classic YCbCr box (Chai & Ngan: Cb 77-127, Cr 133-173) narrowed
    in Lab to hue 25-72 deg and chroma 12-45, which leaves out yellow gold (hue ~75-95).
    Rose gold (hue ~30-55, chroma ~15-30) is inside: they cannot be told apart by colour."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = _hue_deg(lab[..., 1], lab[..., 2])
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
    return float(_skin_like(rgb, rgb_to_lab(rgb)).mean()) if rgb.size else 0.0


def _hue_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(b, a)) % 360.0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


# ---------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------
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


def _as_bool_mask(mask: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------
# Shared preparation: crop to the item, scale, Lab, background/skin/highlight exclusion
# ---------------------------------------------------------------------------------------
@dataclass
class _Prepared:
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


def _kmeans(x: np.ndarray, k: int, iters: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


def _prepare(image: Image.Image, item_mask: np.ndarray | None) -> _Prepared:
    from scipy import ndimage

    img = image if image.mode == "RGB" else image.convert("RGB")
    width, height = img.size
    full_item = _as_bool_mask(item_mask, img.size)
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
        centres, labels = _kmeans(sample * np.array([0.5, 1, 1], np.float32), 3, seed=1)
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
    skin = _skin_like(rgb, lab) & item
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
    return _Prepared(
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


def _split_metal_stone(prep: _Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(metal, stone) bool masks on the working crop, and the metal's Lab centre."""
    from scipy import ndimage

    core = prep.core
    n = int(core.sum())
    if n < 12:
        return core.copy(), np.zeros_like(core), None
    lab = prep.lab
    feats = lab[core] * np.array([0.35, 1.0, 1.0], np.float32)  # clustering weighs colour over shading
    step = max(1, n // 6000)
    centres, _ = _kmeans(feats[::step], 5, seed=0)
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


def material_regions(
    image: Image.Image,
    item_mask: np.ndarray | None,
    *,
    item_model: str = "item-mask",
    item_model_version: str = "",
) -> list[Region]:
    """Regions ``item``, ``metal`` and ``stone`` (the latter two only when non-empty).

    Masks are single-channel PNGs at the image's size; ``area_fraction`` is the share
    of the whole image. ``item`` is the given mask (``item_model``/``item_model_version``
    name where it came from, e.g. the segmenter); ``metal`` and ``stone`` are split from
    it by :func:`_split_metal_stone` and do not cover background-/skin-like pixels,
    blown-out highlights or black ink inside the item mask.
    """
    prep = _prepare(image, item_mask)
    metal, stone, _ = _split_metal_stone(prep)
    return _regions(prep, metal, stone, item_model, item_model_version)


def _regions(prep: _Prepared, metal: np.ndarray, stone: np.ndarray, item_model: str, item_model_version: str,
             item_region: np.ndarray | None = None) -> list[Region]:
    total = float(prep.size[0] * prep.size[1])
    item = prep.full_item if item_region is None else np.asarray(item_region, dtype=bool)
    regions = [
        Region(
            label="item",
            mask_png=mask_to_png(item),
            area_fraction=float(item.sum()) / total,
            model=item_model,
            model_version=item_model_version or ATTRIBUTES_VERSION,
        )
    ]
    for label, work in (("metal", metal), ("stone", stone)):
        full = prep.upsample(work)
        if full.any():
            regions.append(
                Region(
                    label=label,
                    mask_png=mask_to_png(full),
                    area_fraction=float(full.sum()) / total,
                    model=ATTRIBUTES_MODEL,
                    model_version=ATTRIBUTES_VERSION,
                )
            )
    return regions


# ---------------------------------------------------------------------------------------
# Metal tone
# ---------------------------------------------------------------------------------------
def _metal_from_mask(prep: _Prepared, metal_mask: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = prep.box
    mm = _as_bool_mask(metal_mask, prep.size)[y0:y1, x0:x1]
    mm_im = Image.fromarray(mm.astype(np.uint8) * 255, mode="L").resize(
        (prep.item.shape[1], prep.item.shape[0]), Image.Resampling.NEAREST
    )
    return (np.asarray(mm_im) >= 128) & prep.core


def _metal_features(prep: _Prepared, metal: np.ndarray) -> dict[str, float]:
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
    prep = _prepare(image, item_mask)
    metal = _metal_from_mask(prep, metal_mask) if metal_mask is not None else _split_metal_stone(prep)[0]
    return _metal_features(prep, metal)


def _tone_probs(feat: dict[str, float]) -> dict[str, float]:
    chroma, hue = feat["chroma"], feat["hue"]
    if hue > 200:  # pinkish-purple side of red wraps to negative angles
        hue -= 360
    p_white = _sigmoid((WHITE_CHROMA - chroma) / WHITE_CHROMA_SCALE)
    rose_hue = _sigmoid((ROSE_HUE - hue) / HUE_SCALE)
    pale_rose = _sigmoid((PALE_ROSE_HUE - hue) / HUE_SCALE) * _sigmoid((PALE_ROSE_CHROMA - chroma) / CHROMA_SCALE)
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


def _scene_white_balance(prep: _Prepared, raw: np.ndarray, metal: np.ndarray) -> dict[str, float]:
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
    skin_mask = _skin_like(prep.rgb, raw) & ~metal
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


def _tone_vector(prep: _Prepared, metal: np.ndarray) -> np.ndarray:
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
    hue = _hue_deg(a, b)
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
    rf = _metal_features(prep, metal)
    rp = _tone_probs(rf)
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
    prep = _prepare(image, item_mask)
    metal = _metal_from_mask(prep, metal_mask) if metal_mask is not None else _split_metal_stone(prep)[0]
    return _tone_vector(prep, metal)


class MetalToneHead:
    """Softmax regression on standardised ``TONE_FEATURES`` -> P(yellow, white, rose).

    File (``.npz``): ``classes``, ``features`` (names, must equal ``TONE_FEATURES``), ``mean``,
    ``std``, ``W`` [F, K], ``b`` [K], ``thresholds`` [K] (per-label confidence at or above which
    the tone may be shown without review; chosen on validation data). ``version`` = the file's
    SHA-256[:12]. Loaded on first use.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_TONE_HEAD_PATH
        self.version = _file_version(self.path)
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
            pw = 1 / (1 + np.exp(-x[:, TONE_FEATURES.index("r_white")]))
            pr = 1 / (1 + np.exp(-x[:, TONE_FEATURES.index("r_rose")]))
            p = np.stack([np.clip(1 - pw - pr, 0, 1), pw, pr], 1)
            return p / p.sum(1, keepdims=True)
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
    key = f"{p}:{_file_version(p)}" if path is not None else str(p)
    head = _TONE_HEADS.get(key)
    if head is None:
        head = _TONE_HEADS[key] = MetalToneHead(p)
    return head


def _tone_tags(prep: _Prepared, metal: np.ndarray) -> list[TagPrediction]:
    head = metal_tone_head()
    if head is None:  # no trained head (a checkout without weights): the rules, without thresholds
        probs = _tone_probs(_metal_features(prep, metal))
        return [
            TagPrediction("metal_tone", tone, float(p), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION)
            for tone, p in sorted(probs.items(), key=lambda kv: -kv[1])
        ]
    return head.tags(_tone_vector(prep, metal))


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
    prep = _prepare(image, item_mask)
    metal = _metal_from_mask(prep, metal_mask) if metal_mask is not None else _split_metal_stone(prep)[0]
    return _tone_tags(prep, metal)


# ---------------------------------------------------------------------------------------
# Named colours
# ---------------------------------------------------------------------------------------
def _name_chromatic(lab: np.ndarray, rgb: np.ndarray) -> np.ndarray:
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


def _metal_word(tone: str) -> str:
    return {"yellow": "gold", "white": "silver", "rose": "rose"}[tone]


def colours(image: Image.Image, item_mask: np.ndarray | None, min_fraction: float = 0.08) -> list[TagPrediction]:
    """Facet ``colour``: named colours of the item's pixels, confidence = pixel fraction.

    Metal pixels are named after the item's metal tone (gold / silver / rose: colour
    words, not materials); other item pixels (stones, enamel, beads, cord) by hue
    sector, lightness and chroma in Lab. Colours covering at least ``min_fraction``
    of the counted pixels are returned, largest first; ``multicolour`` is added when
    three or more non-metal chromatic colours each pass that bar (confidence: their
    summed share). Background-/skin-like pixels inside the mask are not counted.
    """
    prep = _prepare(image, item_mask)
    metal, _, _ = _split_metal_stone(prep)
    return _colours(prep, metal, min_fraction)


def _colours(prep: _Prepared, metal: np.ndarray, min_fraction: float) -> list[TagPrediction]:
    counts: dict[str, float] = {}
    n_metal = int(metal.sum())
    if n_metal:
        tone = max(_tone_probs(_metal_features(prep, metal)).items(), key=lambda kv: kv[1])[0]
        counts[_metal_word(tone)] = float(n_metal)
    other = prep.core & ~metal
    if other.any():
        names = _name_chromatic(prep.lab[other], prep.rgb[other])
        values, cnts = np.unique(names.astype(str), return_counts=True)
        for v, cnt in zip(values, cnts):
            counts[str(v)] = counts.get(str(v), 0.0) + float(cnt)
    total = sum(counts.values())
    if total <= 0:
        return []
    fractions = {k: v / total for k, v in counts.items()}
    out = [
        TagPrediction("colour", k, float(f), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION)
        for k, f in sorted(fractions.items(), key=lambda kv: (-kv[1], kv[0]))
        if f >= min_fraction
    ]
    chromatic = [
        f for k, f in fractions.items()
        if k not in ("gold", "silver", "rose", "white", "black") and f >= min_fraction
    ]
    if len(chromatic) >= 3:
        out.append(TagPrediction("colour", "multicolour", float(sum(chromatic)), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION))
    return out


def dominant_colour(image: Image.Image, mask: np.ndarray | None) -> tuple[str, float] | None:
    """The most common palette colour (stone words, no metal words) of the pixels in ``mask``."""
    prep = _prepare(image, mask)
    sel = prep.core if prep.core.sum() >= 3 else prep.item
    if not sel.any():
        return None
    names = _name_chromatic(prep.lab[sel], prep.rgb[sel]).astype(str)
    values, cnts = np.unique(names, return_counts=True)
    j = int(np.argmax(cnts))
    return str(values[j]), float(cnts[j] / cnts.sum())


# ---------------------------------------------------------------------------------------
# Shape and texture
# ---------------------------------------------------------------------------------------
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
    boxy = _sigmoid((rect - 0.86) / 0.03)
    sym = _sigmoid((0.22 - skew) / 0.06)
    s = {
        "linear": _sigmoid((elong - 3.0) / 0.3),
        "round": ellipse_like * near(elong, 1.0, 0.12) * sym,
        "oval": ellipse_like * _sigmoid((elong - 1.15) / 0.04) * _sigmoid((3.0 - elong) / 0.3) * sym,
        "square": boxy * near(aspect, 1.0, 0.15),
        "rectangle": boxy * _sigmoid((aspect - 1.2) / 0.05) * _sigmoid((3.0 - elong) / 0.3),
        "drop": _sigmoid((skew - 0.22) / 0.06) * _sigmoid((solid - 0.9) / 0.03) * _sigmoid((3.0 - elong) / 0.3)
        * _sigmoid((0.015 - notch) / 0.005),
        "heart": _sigmoid((skew - 0.12) / 0.06) * _sigmoid((notch - 0.015) / 0.005) * _sigmoid((solid - 0.8) / 0.04)
        * _sigmoid((1.6 - elong) / 0.15),
    }
    s["irregular"] = max(0.05, 1.0 - max(s.values()))
    return s


def _texture_features(prep: _Prepared) -> dict[str, float]:
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
    p_sparkle = _sigmoid((t["sparkle"] - 6.0) / 1.5)
    p_textured = _sigmoid((t["hf"] - 3.5) / 0.7)
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
    return _shape_and_texture(_prepare(image, item_mask))


def _shape_and_texture(prep: _Prepared) -> list[TagPrediction]:
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


def describe(
    image: Image.Image,
    item_mask: np.ndarray | None,
    *,
    item_model: str = "item-mask",
    item_model_version: str = "",
    item_region: np.ndarray | None = None,
) -> tuple[list[Region], list[TagPrediction]]:
    """Everything above from one preparation (faster than four calls).

    Returns (``material_regions``, ``metal_tone`` + ``colour`` + ``shape`` + ``texture`` tags);
    same values as the separate functions. ``item_region``: a full-size mask stored as the
    "item" region instead of ``item_mask`` (the pipeline describes the piece in focus but
    stores all the jewelry in the photo).
    """
    prep = _prepare(image, item_mask)
    metal, stone, _ = _split_metal_stone(prep)
    regions = _regions(prep, metal, stone, item_model, item_model_version, item_region)
    tags = _tone_tags(prep, metal)
    tags += _colours(prep, metal, 0.08) + _shape_and_texture(prep)
    return regions, tags
