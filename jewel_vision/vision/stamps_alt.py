"""A second, independent hallmark renderer (cross-renderer evaluation of the OCR path).

:mod:`jewel_vision.vision.stamps` models a stamp as a height map lit like metal. This module
shares **no drawing code** with it and is built differently on purpose, so that a reader tuned
on one can be tested on the other:

* **2-D compositing, not a height map**: the metal is a colour field (palette of its own:
  yellow/white/rose gold, silver, platinum grey, oxidised silver) times a smooth random
  illumination field, with directional brushing and a specular blob; the mark is composited
  on it as

  - ``"punched"``: a dark, shadowed cavity (inner shadow on the side away from the light, a
    bright rim on the other side), as struck with a punch;
  - ``"laser"``: thin strokes of flat colour (dark annealed or bright frosted), no relief;
  - ``"raised"``: a bright top with a drop shadow (cast marks);
* **fonts**: Pillow's bundled default face (Aileron) and DejaVu faces that
  :mod:`~jewel_vision.vision.stamps` never uses (obliques/italics, Serif Condensed, Math
  TeX Gyre), with tracking from tight (-0.05 em) to wide (0.45 em) and a horizontal stretch
  of 0.75-1.35; the text is drawn at 4x and area-reduced;
* **two-part marks** (``"18K 750"``, ``"9K 375"``, ``"14K 585"``, ``"925 CZ"`` ...): the
  parts side by side with a gap, or stacked, each optionally in its own frame;
* **frames**: oval, rectangle, shield;
* **tiny stamps**: the mark (cap height 10-16 px) is a few % of a 520-1200 px photo of the
  piece's surface;
* **curved bands**: the whole band is bent: the text follows an arc (its baseline is a
  parabola) and is foreshortened as on a cylinder (``x = R sin(s/R)``), the band is shaded
  across its width and has dark surroundings with curved edges;
* camera: rotation up to +-10 degrees, Gaussian blur, shot noise, JPEG 45-95.

Each render's ground truth is :attr:`AltSpec.truth`: the canonical marks it holds, one per part
(``("18K", "750")`` for ``"18K 750"``; ``("S925",)`` for ``"925 CZ"``: CZ is not a mark).
``make_alt_specs(n, seed, split)`` draws a balanced set; ``"tune"`` and ``"test"`` use disjoint
seed ranges.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .hallmarks import parse_hallmark

__all__ = [
    "ALT_FONTS",
    "AltSpec",
    "SINGLE_TEXTS",
    "TWO_PART_TEXTS",
    "alt_fonts",
    "make_alt_specs",
    "render_alt",
    "render_alt_spec",
    "truth_marks",
]

SINGLE_TEXTS: tuple[str, ...] = (
    "925", "S925", "STERLING", "999", "S999", "800", "750", "585", "375", "916", "18K", "14K", "9K",
    "22K", "10K", "18KT", "14ct", "K18", "AU750", "G585", "PT950", "Pt900", "PLAT", "PD950",
)
TWO_PART_TEXTS: tuple[str, ...] = (
    "18K 750", "9K 375", "14K 585", "925 CZ", "22K 916", "S925 ITALY", "750 18K", "PT950 JV",
)
# Pillow's own face first ("<pillow-default>"), then DejaVu faces stamps.py does not use.
ALT_FONTS: tuple[str, ...] = (
    "<pillow-default>", "DejaVuSans-Oblique.ttf", "DejaVuSansCondensed-BoldOblique.ttf",
    "DejaVuSerifCondensed.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuMathTeXGyre.ttf", "DejaVuSerifCondensed-BoldItalic.ttf", "DejaVuSans-BoldOblique.ttf",
)
_FONT_ROOTS = ("/usr/share/fonts", "/usr/local/share/fonts")

# sRGB 0-255 palette (independent of stamps.METALS)
PALETTE: dict[str, tuple[int, int, int]] = {
    "yellow": (214, 176, 96), "rose": (206, 146, 120), "white": (206, 204, 198),
    "silver": (192, 194, 198), "platinum": (172, 172, 170), "oxidised": (120, 118, 112),
}
STYLES = ("punched", "laser", "raised")
FRAMES = (None, "oval", "rect", "shield")


@functools.lru_cache(maxsize=1)
def alt_fonts() -> tuple[str, ...]:
    """Usable faces of :data:`ALT_FONTS` on this machine (Pillow's default is always there)."""
    found: dict[str, str] = {}
    for root in _FONT_ROOTS:
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                found.setdefault(f, os.path.join(dirpath, f))
    return tuple(n if n.startswith("<") else found[n] for n in ALT_FONTS if n.startswith("<") or n in found)


@functools.lru_cache(maxsize=128)
def _face(path: str, size: int) -> ImageFont.FreeTypeFont:
    if path == "<pillow-default>":
        return ImageFont.load_default(size=size)  # type: ignore[return-value]
    return ImageFont.truetype(path, size)


def truth_marks(text: str) -> tuple[str, ...]:
    """The canonical marks a stamped text holds, one per whitespace-separated part that is a mark
    (a multi-word single mark such as "950 PLAT" is one part)."""
    parts = text.split()
    marks = [m.mark for m in (parse_hallmark(p) for p in parts) if m is not None]
    if len(marks) <= 1:
        whole = parse_hallmark(text)
        return (whole.mark,) if whole is not None else ()
    return tuple(marks)


# ------------------------------------------------------------------------------------------
# Text layer
# ------------------------------------------------------------------------------------------
def _part_mask(part: str, font: str, cap: float, tracking: float, stretch: float) -> np.ndarray:
    """One word, white on black, drawn at 4x and area-reduced to ``cap`` px digit height."""
    up = 4
    probe = _face(font, 200)
    bb = probe.getbbox("0")
    ratio = max(0.3, (bb[3] - bb[1]) / 200.0)
    size = max(8, int(round(cap * up / ratio)))
    face = _face(font, size)
    widths = [face.getlength(ch) for ch in part]
    gap = tracking * size
    tw = int(math.ceil(sum(widths) + gap * max(0, len(part) - 1) + size * 0.4))
    th = int(math.ceil(size * 1.5))
    img = Image.new("L", (max(4, tw), th), 0)
    d = ImageDraw.Draw(img)
    x = size * 0.2
    for ch, w in zip(part, widths):
        d.text((x, size * 0.15), ch, font=face, fill=255)
        x += w + gap
    a = np.asarray(img)
    ys, xs = np.nonzero(a > 20)
    if len(xs) == 0:
        raise ValueError(f"font {font!r} drew nothing for {part!r}")
    a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = a.shape
    out_h = max(3, int(round(h / up)))
    out_w = max(3, int(round(w / up * stretch)))
    return np.asarray(Image.fromarray(a).resize((out_w, out_h), Image.BOX), np.float32) / 255.0


def _frame_mask(shape: tuple[int, int], kind: str, lw: float) -> np.ndarray:
    """A frame outline that fills ``shape`` (h, w), drawn at 4x."""
    h, w = shape
    up = 4
    img = Image.new("L", (w * up, h * up), 0)
    d = ImageDraw.Draw(img)
    W, H, L = w * up - 1, h * up - 1, max(up, int(round(lw * up)))
    if kind == "oval":
        d.ellipse((L // 2, L // 2, W - L // 2, H - L // 2), outline=255, width=L)
    elif kind == "rect":
        d.rectangle((L // 2, L // 2, W - L // 2, H - L // 2), outline=255, width=L)
    elif kind == "shield":
        pts = [(L, L), (W - L, L), (W - L, H * 0.55), (W / 2, H - L), (L, H * 0.55)]
        d.line(pts + [pts[0]], fill=255, width=L, joint="curve")
    else:
        raise ValueError(f"unknown frame {kind!r}")
    return np.asarray(img.resize((w, h), Image.BOX), np.float32) / 255.0


def _paste(dst: np.ndarray, src: np.ndarray, y: int, x: int) -> None:
    h, w = src.shape
    dst[y: y + h, x: x + w] = np.maximum(dst[y: y + h, x: x + w], src)


def _layout(parts: list[str], font: str, cap: float, rng: np.random.Generator, frame: str | None,
            frame_each: bool, stacked: bool) -> np.ndarray:
    tracking = float(rng.uniform(-0.05, 0.45)) if rng.random() < 0.8 else float(rng.uniform(0.0, 0.1))
    stretch = float(rng.uniform(0.75, 1.35))
    lw = max(1.0, cap * rng.uniform(0.06, 0.12))
    blocks = []
    for p in parts:
        m = _part_mask(p, font, cap, tracking, stretch)
        if frame and frame_each:
            py, px = int(cap * rng.uniform(0.35, 0.6)), int(cap * rng.uniform(0.35, 0.7))
            if frame in ("oval", "shield"):
                px, py = int(px + cap * 0.5), int(py + cap * (0.3 if frame == "oval" else 0.6))
            box = np.zeros((m.shape[0] + 2 * py, m.shape[1] + 2 * px), np.float32)
            _paste(box, m, py - (int(cap * 0.25) if frame == "shield" else 0), px)
            m = np.maximum(box, _frame_mask(box.shape, frame, lw))
        blocks.append(m)
    gap = int(round(cap * rng.uniform(0.9, 2.6)))
    if stacked and len(blocks) > 1:
        vgap = int(cap * rng.uniform(0.4, 0.9))
        H = sum(b.shape[0] for b in blocks) + vgap * (len(blocks) - 1)
        W = max(b.shape[1] for b in blocks)
        out = np.zeros((H, W), np.float32)
        y = 0
        for b in blocks:
            _paste(out, b, y, (W - b.shape[1]) // 2)
            y += b.shape[0] + vgap
    else:
        H = max(b.shape[0] for b in blocks)
        W = sum(b.shape[1] for b in blocks) + gap * (len(blocks) - 1)
        out = np.zeros((H, W), np.float32)
        x = 0
        for b in blocks:
            _paste(out, b, (H - b.shape[0]) // 2, x)
            x += b.shape[1] + gap
    if frame and not frame_each:
        py, px = int(cap * rng.uniform(0.35, 0.6)), int(cap * rng.uniform(0.35, 0.7))
        if frame in ("oval", "shield"):
            px, py = int(px + cap * 0.6), int(py + cap * (0.3 if frame == "oval" else 0.7))
        box = np.zeros((H + 2 * py, W + 2 * px), np.float32)
        _paste(box, out, py - (int(cap * 0.3) if frame == "shield" else 0), px)
        out = np.maximum(box, _frame_mask(box.shape, frame, lw))
    return out


# ------------------------------------------------------------------------------------------
# Surface, marking styles, band geometry, camera
# ------------------------------------------------------------------------------------------
def _smooth_field(h: int, w: int, rng: np.random.Generator, blobs: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = np.zeros((h, w), np.float32)
    for _ in range(blobs):
        cx, cy = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h
        s = rng.uniform(0.15, 0.6) * max(h, w)
        f += rng.uniform(-1, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    ang = rng.uniform(0, 2 * math.pi)
    f += rng.uniform(0, 0.6) * ((xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang))
    return f


def _shift(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    import cv2

    M = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(a, M, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _brushing(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    n = rng.standard_normal((h, w)).astype(np.float32)
    k = int(rng.integers(9, 41))
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    ang = float(rng.uniform(-25, 25) + (90 if rng.random() < 0.3 else 0))
    R = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), ang, 1.0)
    kernel = cv2.warpAffine(kernel, R, (k, k))
    kernel /= max(1e-6, kernel.sum())
    return cv2.filter2D(n, -1, kernel) * math.sqrt(k)


@dataclass(frozen=True)
class AltSpec:
    text: str
    truth: tuple[str, ...]
    style: str  # punched | laser | raised
    metal: str
    font: str  # a path or "<pillow-default>"
    cap_px: float  # digit height in output px
    tiny: bool
    curved: bool
    frame: str | None
    frame_each: bool
    stacked: bool
    blur: float
    seed: int

    @property
    def two_part(self) -> bool:
        return len(self.text.split()) > 1

    def categories(self) -> dict[str, bool]:
        return {
            "two_part": self.two_part, "tiny": self.tiny, "curved": self.curved,
            "punched": self.style == "punched", "laser": self.style == "laser",
            "raised": self.style == "raised", "framed": self.frame is not None,
        }

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["font"] = os.path.basename(self.font)
        d["truth"] = list(self.truth)
        return d


def render_alt(
    text: str, *, style: str = "punched", metal: str = "yellow", font: str | None = None, cap_px: float = 24,
    tiny: bool = False, curved: bool = False, frame: str | None = None, frame_each: bool = False,
    stacked: bool = False, blur: float = 0.0, seed: int = 0,
) -> Image.Image:
    """One render (RGB). Same arguments -> same pixels. See the module docstring."""
    import cv2

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    if metal not in PALETTE:
        raise ValueError(f"metal must be one of {sorted(PALETTE)}, not {metal!r}")
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, not {frame!r}")
    if not text.strip():
        raise ValueError("empty text")
    rng = np.random.default_rng([seed, 7_391])
    font = font or alt_fonts()[int(rng.integers(len(alt_fonts())))]
    parts = text.split()
    mark = _layout(parts, font, float(cap_px), rng, frame, frame_each, stacked and len(parts) > 1)
    if style == "laser":  # thin strokes: erode the glyphs (a laser marks a line, not a punched area)
        k = max(1, int(round(cap_px * rng.uniform(0.02, 0.06))))
        if k >= 1 and cap_px >= 14:
            mark = cv2.erode(mark, np.ones((k, k), np.uint8))
    mh, mw = mark.shape

    # canvas
    if tiny:
        long_side = int(rng.integers(520, 1201))
        aspect = rng.uniform(0.6, 0.85)
        W, H = (long_side, int(long_side * aspect)) if rng.random() < 0.75 else (int(long_side * aspect), long_side)
        W, H = max(W, mw + 8), max(H, mh + 8)
    else:
        W = mw + int(2 * cap_px * rng.uniform(0.6, 2.4))
        H = mh + int(2 * cap_px * rng.uniform(0.7, 2.2))
    ox = int(rng.integers(2, max(3, W - mw - 1))) if tiny else (W - mw) // 2 + int(rng.integers(-2, 3))
    oy = int(rng.integers(2, max(3, H - mh - 1))) if tiny else (H - mh) // 2 + int(rng.integers(-2, 3))
    ox, oy = int(np.clip(ox, 0, W - mw)), int(np.clip(oy, 0, H - mh))
    m = np.zeros((H, W), np.float32)
    m[oy: oy + mh, ox: ox + mw] = mark

    # surface
    base = np.array(PALETTE[metal], np.float32) / 255.0 * rng.uniform(0.85, 1.1)
    illum = 0.75 + 0.35 * np.tanh(_smooth_field(H, W, rng, int(rng.integers(2, 6))))
    illum = illum + rng.uniform(0.01, 0.05) * _brushing(H, W, rng)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    sx, sy, ss = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.08, 0.35) * max(W, H)
    spec = rng.uniform(0.0, 0.5) * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * ss * ss))
    rgb = illum[..., None] * base[None, None, :] + spec[..., None] * np.array([1.0, 0.98, 0.94], np.float32)

    # marking
    la = rng.uniform(0, 2 * math.pi)
    off = max(0.6, cap_px * rng.uniform(0.04, 0.09))
    dx, dy = off * math.cos(la), off * math.sin(la)
    if style == "punched":
        inner = np.clip(m - _shift(m, dx, dy), 0, 1)  # the wall facing away from the light: shadow
        rim = np.clip(m - _shift(m, -dx, -dy), 0, 1)  # the wall facing it: bright
        floor = rng.uniform(0.45, 0.8)
        shade = 1.0 - (1.0 - floor) * m - rng.uniform(0.2, 0.45) * inner + rng.uniform(0.1, 0.45) * rim
        rgb = rgb * np.clip(shade, 0.05, 1.6)[..., None]
    elif style == "raised":
        drop = np.clip(_shift(m, dx, dy) - m, 0, 1)
        top = rng.uniform(1.05, 1.35)
        shade = 1.0 + (top - 1.0) * m - rng.uniform(0.25, 0.5) * drop
        rgb = rgb * np.clip(shade, 0.05, 1.6)[..., None]
    else:  # laser: flat colour, dark (annealed) or bright (frosted)
        if rng.random() < 0.6:
            ink = np.array([0.12, 0.11, 0.10], np.float32) * rng.uniform(0.6, 2.2)
        else:
            ink = np.minimum(1.0, base * 1.25 + 0.15)
        alpha = (m * rng.uniform(0.55, 0.95))[..., None]
        rgb = rgb * (1 - alpha) + ink[None, None, :] * alpha

    # a curved band: arc + cylinder foreshortening, shading across, dark surroundings
    if curved:
        u = (xx - W / 2) / (W / 2)  # -1..1 in the output
        half = rng.uniform(0.6, 1.1)  # half-angle of the band seen (radians)
        s = np.arcsin(np.clip(u * math.sin(half), -1, 1)) / half  # surface coordinate, -1..1
        sag = rng.uniform(0.04, 0.14) * H * (1 if rng.random() < 0.5 else -1)
        map_x = (s * (W / 2) + W / 2).astype(np.float32)
        map_y = (yy - sag * (u ** 2) + sag / 3).astype(np.float32)
        rgb = cv2.remap(rgb.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rgb = rgb * (0.55 + 0.45 * np.cos(u * half * rng.uniform(0.8, 1.3)))[..., None]
        if rng.random() < 0.7:  # the band's edges, bent the same way, and what is beyond them
            top = H * rng.uniform(0.02, 0.12) + sag * (u ** 2) - sag / 3
            bot = H * (1 - rng.uniform(0.02, 0.12)) + sag * (u ** 2) - sag / 3
            inside = np.clip(np.minimum(yy - top, bot - yy) / 2.0 + 0.5, 0, 1)
            if not tiny:  # keep the mark inside the band
                inside = np.maximum(inside, m * 0)
            bg = np.array([rng.uniform(0.03, 0.35)] * 3, np.float32) * rng.uniform(0.8, 1.2, 3)
            rgb = rgb * inside[..., None] + bg[None, None, :] * (1 - inside[..., None])

    # camera
    angle = float(rng.uniform(-10, 10))
    if abs(angle) > 0.05:
        R = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
        rgb = cv2.warpAffine(rgb.astype(np.float32), R, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if blur > 0.05:
        rgb = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), blur)
    rgb = np.clip(rgb, 0, 1)
    shot = rng.uniform(0.005, 0.03)
    rgb = rgb + rng.standard_normal(rgb.shape).astype(np.float32) * shot * np.sqrt(rgb + 0.02)
    pil = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8), "RGB")
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=int(rng.integers(45, 96)))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


_ALT_BASE = {"tune": 3_000_000, "test": 700_000_000}


def make_alt_specs(n: int, seed: int = 0, split: str = "test") -> list[AltSpec]:
    """Balanced specs: a third two-part marks; styles cycle; ~30 % tiny, ~40 % curved, ~35 % framed."""
    if split not in _ALT_BASE:
        raise ValueError(f"split must be 'tune' or 'test', not {split!r}")
    if not 0 <= n <= 100_000:
        raise ValueError("at most 100000 specs")
    fonts = alt_fonts()
    rng = np.random.default_rng(int(hashlib.sha256(f"alt:{split}:{seed}".encode()).hexdigest()[:12], 16))
    metals = tuple(PALETTE)
    out = []
    for i in range(n):
        two = i % 3 == 0
        text = (TWO_PART_TEXTS if two else SINGLE_TEXTS)[int(rng.integers(len(TWO_PART_TEXTS if two else SINGLE_TEXTS)))]
        style = STYLES[(i // 3 + int(rng.integers(0, 2))) % 3]
        tiny = bool(rng.random() < 0.3)
        curved = bool(rng.random() < 0.4)
        r = rng.random()
        frame = None if r < 0.65 else FRAMES[1 + int(rng.integers(3))]
        cap = float(rng.uniform(10, 16)) if tiny else float(rng.uniform(16, 44))
        blurred = rng.random() < 0.35
        out.append(AltSpec(
            text=text, truth=truth_marks(text), style=style, metal=metals[int(rng.integers(len(metals)))],
            font=fonts[int(rng.integers(len(fonts)))], cap_px=round(cap, 2), tiny=tiny, curved=curved, frame=frame,
            frame_each=bool(frame and two and rng.random() < 0.5), stacked=bool(two and rng.random() < 0.3),
            blur=round(float(rng.uniform(0.8, 1.5) if blurred else rng.uniform(0.0, 0.5)), 3),
            seed=_ALT_BASE[split] + (seed % 1000) * 100_000 + i,
        ))
    return out


def render_alt_spec(spec: AltSpec) -> Image.Image:
    return render_alt(
        spec.text, style=spec.style, metal=spec.metal, font=spec.font, cap_px=spec.cap_px, tiny=spec.tiny,
        curved=spec.curved, frame=spec.frame, frame_each=spec.frame_each, stacked=spec.stacked, blur=spec.blur,
        seed=spec.seed,
    )
