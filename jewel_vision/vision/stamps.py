"""Synthetic hallmark photos: text stamped into (or raised from) a metal surface.

No real photos of hallmark stamps were available to this project, so the OCR
path is tuned and evaluated on renders from this module (see
``jewel_vision/vision/weights/OCR_CARD.md``). A render is physically motivated,
not photo-real:

* the text is drawn (3x supersampled) with one of the machine's TrueType fonts and
  turned into a **height map**: a rounded groove for ``style="debossed"`` (punched in)
  or a rounded ridge for ``"embossed"`` (cast/raised), optionally with a stamped
  cartouche (rectangle or oval) around it and a maker's-mark word beside it;
* the surface gets brushed micro-texture, scratches and pits, and on ``curved=True`` a
  concave cylinder across the text direction (a ring's inner band);
* it is lit like a metal: coloured diffuse + a tinted specular highlight from a random
  light direction, cavity darkening (dirt/oxide in recesses), ``metal`` = ``"yellow"`` |
  ``"white"`` | ``"rose"``; on curved renders the cylinder gives a specular band, and the
  image is warped with the cylinder's foreshortening (letters squeeze towards the ends);
* then slight rotation, perspective-free downsampling to ``size_px`` text height,
  Gaussian ``blur`` (in output pixels), sensor noise and JPEG compression.

Fonts: the DejaVu families in ``/usr/share/fonts`` (and any others fontconfig lists); CJK
marks (足金, 足银 ...) need a CJK font, looked up with ``fc-list :lang=zh`` and in the usual
folders; :func:`cjk_font_path` returns None where there is none (the case on the project's
machines), and :func:`render_stamp` then raises ``ValueError`` for CJK text.

``make_stamp_set(n, seed, split)`` draws a balanced set over the conditions
(debossed/embossed x curved/flat x yellow/white/rose, with small text and blur drawn
independently); the ``"tune"`` and ``"test"`` splits use disjoint seed ranges and the test
split also uses two fonts that the tune split never sees.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import math
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "HALLMARK_TEXTS",
    "StampSpec",
    "available_fonts",
    "cjk_font_path",
    "make_cross_specs",
    "make_stamp_set",
    "make_stamp_specs",
    "render_packshot",
    "render_spec",
    "render_stamp",
]

# What gets stamped. Ground truth for evaluation is parse_hallmark(text).mark.
HALLMARK_TEXTS: tuple[str, ...] = (
    "S925", "925", "STERLING", "925 SILVER", "STER", "S990", "S999", "958", "800",
    "750", "585", "375", "999", "916", "333", "G750", "AU750", "Au750", "Au999",
    "18K", "14K", "9K", "10K", "22K", "24K", "18KT", "14KT", "9CT", "18ct", "K18",
    "PT950", "Pt950", "PT900", "PT999", "PLAT", "950 PLAT", "PD950", "PD500",
)
CJK_TEXTS: tuple[str, ...] = ("足金", "千足金", "足银", "足金999", "18K金")
DISTRACTORS: tuple[str, ...] = ("ITALY", "CZ", "JV", "DH", "AR", "TW")

METALS = {
    # base albedo (linear-ish RGB 0-1) and specular tint
    "yellow": ((0.83, 0.64, 0.28), (1.00, 0.90, 0.62)),
    "white": ((0.74, 0.75, 0.77), (0.98, 0.98, 1.00)),
    "rose": ((0.80, 0.52, 0.44), (1.00, 0.82, 0.74)),
}
_PREFERRED_FONTS = (
    "DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf",
    "DejaVuSansCondensed.ttf", "DejaVuSansMono.ttf",
    # held out of the tune split:
    "DejaVuSerifCondensed-Bold.ttf", "DejaVuSans-ExtraLight.ttf",
)
HELD_OUT_FONTS = ("DejaVuSerifCondensed-Bold.ttf", "DejaVuSans-ExtraLight.ttf")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"))


@functools.lru_cache(maxsize=1)
def available_fonts() -> tuple[str, ...]:
    """Paths of usable Latin TrueType fonts, preferred stamp-like faces first."""
    found: dict[str, str] = {}
    for root in _FONT_DIRS:
        for path in glob.glob(os.path.join(root, "**", "*.ttf"), recursive=True):
            found.setdefault(os.path.basename(path), path)
    ordered = [found[n] for n in _PREFERRED_FONTS if n in found]
    return tuple(ordered)


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """A font that covers 足金/足银, or None (then CJK stamps cannot be rendered here)."""
    candidates: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10).stdout
            candidates += [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    for root in _FONT_DIRS:
        for pattern in ("**/*CJK*", "**/wqy*", "**/*DroidSansFallback*", "**/*SimHei*", "**/*NotoSansSC*"):
            candidates += glob.glob(os.path.join(root, pattern), recursive=True)
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            font = ImageFont.truetype(path, 32)
            if font.getmask("足金").getbbox():
                return path
        except OSError:
            continue
    return None


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return a
    import cv2

    return cv2.GaussianBlur(a, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma), borderType=cv2.BORDER_REFLECT)


def _text_mask(text: str, font_path: str, cap_px: float, tracking: float, frame: str, extra: str | None,
               rng: np.random.Generator, margin: tuple[float, float] | None = None,
               word_gap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the stamped text/frame at supersampled size, mask of the extra word)."""
    probe = _font(font_path, 100)
    ref = "足" if _is_cjk(text) else "8"
    bb = probe.getbbox(ref)
    ratio = (bb[3] - bb[1]) / 100.0 or 0.72
    size = max(6, int(round(cap_px / ratio)))
    font = _font(font_path, size)
    # per-character layout with tracking
    adv = [font.getlength(ch) for ch in text]
    track = tracking * cap_px
    adv = [a + (word_gap * cap_px if ch == " " else 0.0) for ch, a in zip(text, adv)]
    text_w = sum(adv) + track * max(0, len(text) - 1)
    top_bb = font.getbbox(text)
    text_h = top_bb[3] - top_bb[1]
    mx = rng.uniform(0.7, 1.8) * cap_px
    my = rng.uniform(0.9, 1.8) * cap_px
    if margin is not None:  # a tiny stamp in a larger photo of the surface
        mx, my = margin[0] * cap_px, margin[1] * cap_px
    extra_w = 0.0
    efont = None
    if extra:
        efont = _font(font_path, max(6, int(size * rng.uniform(0.7, 1.0))))
        extra_w = efont.getlength(extra) + cap_px * rng.uniform(1.0, 1.8)
    pad = 0.35 * cap_px if frame else 0.0
    W = int(math.ceil(text_w + extra_w + 2 * mx + 2 * pad))
    H = int(math.ceil(text_h + 2 * my + 2 * pad))
    img = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(img)
    x = mx + pad
    y = my + pad - top_bb[1]
    stroke = int(round(rng.choice([0, 0, 0, 1]) * cap_px / 30))
    for ch, a in zip(text, adv):
        draw.text((x, y), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        x += a + track
    if frame:
        lw = max(1, int(round(cap_px * 0.07)))
        box = (mx - lw, my - lw, mx + text_w + 2 * pad + lw, my + text_h + 2 * pad + lw)
        if frame == "rect":
            draw.rounded_rectangle(box, radius=int(cap_px * 0.25), outline=255, width=lw)
        else:
            draw.ellipse((box[0] - pad, box[1] - pad * 0.6, box[2] + pad, box[3] + pad * 0.6), outline=255, width=lw)
    emask = Image.new("L", (W, H), 0)
    if extra and efont is not None:
        ex = mx + 2 * pad + text_w + cap_px * rng.uniform(1.0, 1.8)
        ebb = efont.getbbox(extra)
        ImageDraw.Draw(emask).text((ex, my + pad + (text_h - (ebb[3] - ebb[1])) / 2 - ebb[1]), extra, font=efont, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0, np.asarray(emask, dtype=np.float32) / 255.0


def render_stamp(
    text: str,
    *,
    style: str = "debossed",
    metal: str = "yellow",
    curved: bool = False,
    size_px: int = 28,
    blur: float = 0.0,
    seed: int = 0,
    rotation: float | None = None,
    noise: float | None = None,
    font_path: str | None = None,
    fonts: tuple[str, ...] | None = None,
    frame: str | None = None,
    extra: str | None = None,
    band_edges: bool | None = None,
    jpeg_quality: int | None = None,
    margin: tuple[float, float] | None = None,
    word_gap: float = 0.0,
) -> Image.Image:
    """One synthetic hallmark photo (RGB). Same arguments -> same pixels.

    ``size_px`` is the height of a digit/capital in the output; ``blur`` the Gaussian sigma in
    output pixels; ``rotation`` degrees (random within +-6 when None); ``noise`` the sensor
    noise sigma in 0-255 units (random 1.5-6 when None); ``frame`` "rect"/"oval"/None draws a
    cartouche; ``extra`` stamps a maker's-mark word beside the hallmark; ``band_edges`` shows
    the dark edges of a ring band above and below (curved renders; random when None);
    ``margin`` (x, y), in cap heights, puts that much surface around the text (a tiny stamp in a
    larger photo; rendered at 2x instead of 3x supersampling); ``word_gap`` widens spaces by that
    many cap heights (two-part marks such as "18K 750").
    """
    import cv2

    if style not in ("debossed", "embossed"):
        raise ValueError(f"style must be 'debossed' or 'embossed', not {style!r}")
    if metal not in METALS:
        raise ValueError(f"metal must be one of {sorted(METALS)}, not {metal!r}")
    if not text.strip():
        raise ValueError("empty text")
    rng = np.random.default_rng(seed)
    if _is_cjk(text):
        font_path = cjk_font_path()
        if font_path is None:
            raise ValueError("no CJK font on this machine: cannot render " + repr(text))
    elif font_path is None:
        pool = fonts or available_fonts()
        if not pool:
            raise RuntimeError("no TrueType font found in /usr/share/fonts")
        font_path = pool[int(rng.integers(len(pool)))]

    ss = 3 if margin is None else 2  # supersampling
    cap = float(size_px) * ss
    tracking = rng.uniform(0.02, 0.22)
    mask, emask = _text_mask(text, font_path, cap, tracking, frame or "", extra, rng, margin, word_gap)
    H, W = mask.shape

    # ---- height map ---------------------------------------------------------------
    stroke_sigma = cap * rng.uniform(0.035, 0.06)
    profile = _blur(mask, stroke_sigma)
    profile = np.clip(profile * 1.6, 0, 1) ** 0.8  # rounded flanks, flat-ish floor/top
    eprofile = _blur(emask, stroke_sigma) if extra else 0.0
    depth = cap * rng.uniform(0.05, 0.10)
    sign = -1.0 if style == "debossed" else 1.0
    height = sign * depth * (profile + 0.8 * eprofile)

    # brushed texture + scratches + pits
    n1 = rng.standard_normal((H, W)).astype(np.float32)
    brushed = cv2.GaussianBlur(n1, (0, 0), sigmaX=cap * 0.8, sigmaY=0.6)
    height += brushed * cap * rng.uniform(0.01, 0.04)
    scratches = np.zeros((H, W), np.uint8)
    for _ in range(int(rng.integers(0, 12))):
        x0, y0 = rng.uniform(0, W), rng.uniform(0, H)
        ang = rng.normal(0, 0.3) + (0 if rng.random() < 0.7 else rng.uniform(0, math.pi))
        length = rng.uniform(0.2, 1.0) * W
        x1, y1 = x0 + length * math.cos(ang), y0 + length * math.sin(ang)
        cv2.line(scratches, (int(x0), int(y0)), (int(x1), int(y1)), 255, max(1, int(ss * rng.uniform(0.3, 1.0))))
    height -= _blur(scratches.astype(np.float32) / 255.0, ss * 0.5) * cap * rng.uniform(0.005, 0.02)
    pits = (rng.random((H, W)) < 0.0008).astype(np.float32)
    height -= _blur(pits, ss * 0.8) * cap * 0.3

    xs = (np.arange(W, dtype=np.float32) - W / 2) / (W / 2)  # -1..1
    ys = (np.arange(H, dtype=np.float32) - H / 2) / (H / 2)
    theta_max = 0.0
    if curved:
        theta_max = rng.uniform(0.45, 0.85)  # half-angle of band seen, radians
    # ---- normals --------------------------------------------------------------------
    gy, gx = np.gradient(height)
    nx, ny = -gx, -gy
    if curved:
        # concave cylinder (ring interior): surface normal tilts towards the centre with x
        tilt = -np.sin(xs * theta_max)[None, :]
        nx = nx + tilt * 1.0 / np.maximum(np.cos(xs * theta_max)[None, :], 0.3)
    nz = np.ones_like(nx)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / norm, ny / norm, nz / norm

    # ---- lighting -------------------------------------------------------------------
    az = rng.uniform(0, 2 * math.pi)
    el = rng.uniform(math.radians(35), math.radians(70))
    L = np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)], np.float32)
    ndl = np.clip(nx * L[0] + ny * L[1] + nz * L[2], 0, 1)
    # reflect view (0,0,1) about n, compare with light
    rx, ry, rz = 2 * nz * nx, 2 * nz * ny, 2 * nz * nz - 1
    rdl = np.clip(rx * L[0] + ry * L[1] + rz * L[2], 0, 1)
    shin = rng.uniform(8, 40)
    spec = rdl ** shin
    # broad environment term: a soft window above (metals are mostly reflections)
    env = 0.5 + 0.5 * np.clip(ry * -0.6 + rz * 0.4 + rx * rng.uniform(-0.3, 0.3), -1, 1)
    base, tint = METALS[metal]
    base = np.array(base, np.float32) * rng.uniform(0.9, 1.08)
    tint = np.array(tint, np.float32)
    ka, kd, ke, ks = rng.uniform(0.18, 0.3), rng.uniform(0.35, 0.6), rng.uniform(0.15, 0.35), rng.uniform(0.35, 0.8)
    shade = ka + kd * ndl + ke * env
    # cavity darkening in recesses (debossed) / slight brightening of raised polished tops
    if style == "debossed":
        cavity = 1.0 - rng.uniform(0.15, 0.5) * _blur(mask + 0.8 * (emask if extra else 0), stroke_sigma * 0.7)
    else:
        cavity = 1.0 + rng.uniform(0.0, 0.2) * _blur(mask, stroke_sigma) - rng.uniform(0.0, 0.2) * (
            _blur(mask, stroke_sigma * 3) - _blur(mask, stroke_sigma))
    rgb = (shade * cavity)[..., None] * base[None, None, :] + (ks * spec)[..., None] * tint[None, None, :]
    if curved:
        # vignetting along the band: darker towards the ends
        rgb *= (1.0 - 0.35 * np.abs(xs) ** 2)[None, :, None]
    rgb = np.clip(rgb, 0, 1.2)

    # ---- geometry: cylindrical foreshortening, band edges, rotation ----------------------
    if curved:
        # output u in [-1,1] shows the surface point at angle asin(u*sin(tm)) -> source x = angle/tm
        u = xs
        src_x = np.arcsin(np.clip(u * math.sin(theta_max), -1, 1)) / theta_max
        map_x = ((src_x * (W / 2)) + W / 2).astype(np.float32)
        map_x = np.repeat(map_x[None, :], H, axis=0)
        map_y = np.repeat(np.arange(H, dtype=np.float32)[:, None], W, axis=1)
        # slight bow of the text line (the camera is not on the ring axis)
        bow = rng.uniform(-0.05, 0.05) * H
        map_y = map_y + bow * (u[None, :] ** 2)
        rgb = cv2.remap(rgb.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if band_edges is None:
            band_edges = bool(rng.random() < 0.5)
        if band_edges:
            edge = int(H * rng.uniform(0.06, 0.14))
            dark = np.array([0.08, 0.08, 0.09], np.float32) * rng.uniform(0.5, 2.0)
            ramp = np.linspace(0, 1, max(2, edge // 3), dtype=np.float32)
            for top in (True, False):
                sl = slice(0, edge) if top else slice(H - edge, H)
                rgb[sl] = dark
                r = ramp if top else ramp[::-1]
                sl2 = slice(edge, edge + len(r)) if top else slice(H - edge - len(r), H - edge)
                rgb[sl2] = rgb[sl2] * (0.5 + 0.5 * r[:, None, None])
    angle = float(rng.uniform(-6, 6) if rotation is None else rotation)
    if abs(angle) > 0.01:
        M = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
        rgb = cv2.warpAffine(rgb.astype(np.float32), M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    # ---- camera: downsample, blur, noise, JPEG -----------------------------------------------
    out_w, out_h = max(8, int(round(W / ss))), max(8, int(round(H / ss)))
    img = cv2.resize(rgb.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_AREA)
    img = np.clip(img, 0, 1) ** (1 / 1.15)
    img = _blur(img, blur)
    sigma_n = float(rng.uniform(1.5, 6.0) if noise is None else noise) / 255.0
    img = img + rng.standard_normal(img.shape).astype(np.float32) * sigma_n
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(img, "RGB")
    q = jpeg_quality if jpeg_quality is not None else int(rng.integers(60, 96))
    if q and q < 100:
        buf = io.BytesIO()
        pil.save(buf, "JPEG", quality=q)
        buf.seek(0)
        pil = Image.open(buf).convert("RGB")
    return pil


# ------------------------------------------------------------------------------------------
# Sets
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StampSpec:
    text: str
    style: str
    metal: str
    curved: bool
    size_px: int
    blur: float
    seed: int
    small: bool
    blurred: bool
    font_path: str
    frame: str | None = None
    extra: str | None = None
    rotation: float | None = None
    margin: tuple[float, float] | None = None
    word_gap: float = 0.0
    conditions: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["font"] = os.path.basename(self.font_path)
        del d["font_path"]
        return d


_SPLIT_BASE = {"tune": 10_000_000, "test": 900_000_000}


def _split_seed(split: str, seed: int, i: int) -> int:
    if split not in _SPLIT_BASE:
        raise ValueError(f"split must be 'tune' or 'test', not {split!r}")
    if not 0 <= i < 100_000:
        raise ValueError("at most 100000 stamps per set")
    # the ranges [10e6, 10e6 + 1000*1e5) and [900e6, ...) never overlap for seed < 1000
    return _SPLIT_BASE[split] + (seed % 1000) * 100_000 + i


def make_stamp_specs(n: int, seed: int = 0, split: str = "tune", *, include_cjk: bool | None = None) -> list[StampSpec]:
    """Balanced specs: style x curved x metal cycle; small text and blur each ~40% independently.

    ``include_cjk`` (default: only when a CJK font exists) mixes in Chinese marks.
    """
    fonts = available_fonts()
    if split == "tune":
        fonts = tuple(f for f in fonts if os.path.basename(f) not in HELD_OUT_FONTS) or fonts
    if not fonts:
        raise RuntimeError("no TrueType font found in /usr/share/fonts")
    if include_cjk is None:
        include_cjk = cjk_font_path() is not None
    texts = HALLMARK_TEXTS + (CJK_TEXTS if include_cjk else ())
    # one generator per (split, seed) picks the variable parts; each stamp renders with its own seed
    set_rng = np.random.default_rng(int(hashlib.sha256(f"{split}:{seed}".encode()).hexdigest()[:12], 16))
    combos = [(st, cv, mt) for st in ("debossed", "embossed") for cv in (False, True) for mt in ("yellow", "white", "rose")]
    offset = int(set_rng.integers(len(combos)))
    specs = []
    for i in range(n):
        style, curved, metal = combos[(i + offset) % len(combos)]
        small = bool(set_rng.random() < 0.4)
        blurred = bool(set_rng.random() < 0.4)
        size_px = int(set_rng.integers(14, 19)) if small else int(set_rng.integers(20, 49))
        blur = float(set_rng.uniform(0.9, 1.6)) if blurred else float(set_rng.uniform(0.0, 0.5))
        text = texts[int(set_rng.integers(len(texts)))]
        r = set_rng.random()
        frame = "rect" if r < 0.1 else ("oval" if r < 0.2 else None)
        extra = DISTRACTORS[int(set_rng.integers(len(DISTRACTORS)))] if set_rng.random() < 0.15 else None
        specs.append(StampSpec(
            text=text, style=style, metal=metal, curved=curved, size_px=size_px, blur=round(blur, 3),
            seed=_split_seed(split, seed, i), small=small, blurred=blurred,
            font_path=fonts[int(set_rng.integers(len(fonts)))], frame=frame, extra=extra,
        ))
    return specs


def render_spec(spec: StampSpec) -> Image.Image:
    return render_stamp(
        spec.text, style=spec.style, metal=spec.metal, curved=spec.curved, size_px=spec.size_px,
        blur=spec.blur, seed=spec.seed, font_path=None if _is_cjk(spec.text) else spec.font_path,
        frame=spec.frame, extra=spec.extra, rotation=spec.rotation, margin=spec.margin, word_gap=spec.word_gap,
    )


TWO_PART_TEXTS: tuple[str, ...] = ("18K 750", "9K 375", "14K 585", "925 CZ", "22K 916", "750 18K", "S925 ITALY")
_CROSS_BASE = {"tune": 50_000_000, "test": 950_000_000}


def make_cross_specs(n: int, seed: int = 0, split: str = "tune", *, all_tiny: bool = False) -> list[StampSpec]:
    """Specs for the cross-renderer evaluation (``eval_ocr_cross``): the conditions of
    :func:`make_stamp_specs` plus two-part marks (a third; :data:`TWO_PART_TEXTS`, the parts
    1-2.5 cap heights apart) and tiny stamps (~30 %: cap height 11-16 px with 14-30 cap heights
    of surface around it, so the photo is 500-1100 px wide). Seeds disjoint from every other set;
    the "tune" split never uses :data:`HELD_OUT_FONTS`.

    ``all_tiny``: every stamp tinier still (cap height 7-11 px, 25-40 cap heights of surface:
    photos of 450-1300 px): a harder set for tuning how tiny stamps are found (its stamps are
    not the default set's made tinier: the margins' draws shift the stream).
    """
    if split not in _CROSS_BASE:
        raise ValueError(f"split must be 'tune' or 'test', not {split!r}")
    if not 0 <= n < 100_000:
        raise ValueError("at most 100000 stamps per set")
    fonts = available_fonts()
    if split == "tune":
        fonts = tuple(f for f in fonts if os.path.basename(f) not in HELD_OUT_FONTS) or fonts
    if not fonts:
        raise RuntimeError("no TrueType font found in /usr/share/fonts")
    rng = np.random.default_rng(int(hashlib.sha256(f"cross:{split}:{seed}".encode()).hexdigest()[:12], 16))
    specs = []
    for i in range(n):
        two = i % 3 == 0
        text = TWO_PART_TEXTS[int(rng.integers(len(TWO_PART_TEXTS)))] if two else HALLMARK_TEXTS[
            int(rng.integers(len(HALLMARK_TEXTS)))]
        tiny = bool(rng.random() < 0.3) or all_tiny
        curved = bool(rng.random() < 0.4)
        blurred = bool(rng.random() < 0.35)
        r = rng.random()
        frame = "rect" if r < 0.15 else ("oval" if r < 0.3 else None)
        cap, around = ((7, 12), ((25, 40), (20, 32))) if all_tiny else ((11, 17), ((18, 30), (14, 24)))
        size_px = int(rng.integers(*cap)) if tiny else int(rng.integers(16, 45))
        margin = (round(float(rng.uniform(*around[0])), 2), round(float(rng.uniform(*around[1])), 2)) if tiny else None
        specs.append(StampSpec(
            text=text, style=("debossed", "embossed")[int(rng.integers(2))],
            metal=("yellow", "white", "rose")[int(rng.integers(3))], curved=curved, size_px=size_px,
            blur=round(float(rng.uniform(0.8, 1.5) if blurred else rng.uniform(0.0, 0.5)), 3),
            seed=_CROSS_BASE[split] + (seed % 1000) * 100_000 + i, small=tiny or size_px < 19, blurred=blurred,
            font_path=fonts[int(rng.integers(len(fonts)))], frame=frame, margin=margin,
            word_gap=round(float(rng.uniform(1.0, 2.5)), 2) if two else 0.0,
        ))
    return specs


def make_stamp_set(n: int, seed: int = 0, split: str = "tune") -> list[tuple[Image.Image, str]]:
    """``n`` rendered stamps as (image, stamped text) for the ``"tune"`` or ``"test"`` split."""
    return [(render_spec(s), s.text) for s in make_stamp_specs(n, seed, split)]


def render_packshot(seed: int = 0, size: int = 384) -> Image.Image:
    """A plain catalogue-style drawing of a jewelry piece (no text): a negative for the OCR gate.

    Rings, chains, pendants, bracelets and earrings in gold/silver/rose tones on a light,
    slightly graded background, with a shadow, specular dots and a stone or two.
    """
    rng = np.random.default_rng(seed)
    bg = np.array([rng.uniform(225, 255)] * 3) + rng.uniform(-6, 6, 3)
    img = Image.new("RGB", (size, size), tuple(int(v) for v in np.clip(bg, 0, 255)))
    d = ImageDraw.Draw(img)
    base, _tint = METALS[("yellow", "white", "rose")[int(rng.integers(3))]]
    col = tuple(int(255 * v) for v in base)
    dark = tuple(int(v * 0.6) for v in col)
    light = tuple(min(255, int(v * 1.3)) for v in col)
    c = size / 2
    kind = ("ring", "chain", "pendant", "bracelet", "earrings")[int(rng.integers(5))]
    # soft shadow
    sh = Image.new("L", (size, size), 0)
    ImageDraw.Draw(sh).ellipse((c - size * 0.3, size * 0.72, c + size * 0.3, size * 0.82), fill=60)
    sh = sh.filter(ImageFilter.GaussianBlur(size / 30))
    img = Image.composite(Image.new("RGB", (size, size), (150, 150, 150)), img, sh)
    d = ImageDraw.Draw(img)
    if kind == "ring":
        r = size * rng.uniform(0.18, 0.28)
        w = int(size * rng.uniform(0.03, 0.07))
        d.ellipse((c - r, c - r * 0.6, c + r, c + r), outline=col, width=w)
        d.ellipse((c - r + w / 2, c - r * 0.6 + w / 2, c + r - w / 2, c + r - w / 2), outline=light, width=2)
        s = size * rng.uniform(0.04, 0.08)
        d.polygon([(c - s, c - r * 0.6), (c, c - r * 0.6 - 1.6 * s), (c + s, c - r * 0.6)],
                  fill=(235, 240, 250), outline=(140, 150, 170))
    elif kind == "chain":
        for i in range(int(rng.integers(20, 40))):
            a = math.pi * (0.1 + 0.8 * i / 30)
            x, y = c + size * 0.38 * math.cos(a), size * 0.1 + size * 0.5 * math.sin(a)
            d.ellipse((x - 6, y - 4, x + 6, y + 4), outline=col, width=2)
    elif kind == "pendant":
        d.arc((size * 0.15, -size * 0.3, size * 0.85, size * 0.55), 20, 160, fill=col, width=4)
        r = size * rng.uniform(0.06, 0.1)
        d.ellipse((c - r, size * 0.55, c + r, size * 0.55 + 2 * r), fill=(int(rng.integers(0, 255)), 30, 90),
                  outline=col, width=5)
    elif kind == "bracelet":
        d.ellipse((size * 0.15, size * 0.3, size * 0.85, size * 0.7), outline=col, width=int(size * 0.05))
        for i in range(14):
            a = 2 * math.pi * i / 14
            x, y = c + size * 0.35 * math.cos(a), c + size * 0.2 * math.sin(a)
            d.ellipse((x - 5, y - 5, x + 5, y + 5), fill=dark)
    else:
        for x in (c - size * 0.2, c + size * 0.2):
            d.line((x, size * 0.2, x, size * 0.45), fill=col, width=5)
            d.ellipse((x - size * 0.08, size * 0.45, x + size * 0.08, size * 0.65), outline=col, width=8)
    for _ in range(int(rng.integers(2, 8))):
        x, y = rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size
        d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(255, 255, 250))
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2))))
    arr = np.asarray(img).astype(np.float32) + rng.standard_normal((size, size, 3)).astype(np.float32) * 2
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
