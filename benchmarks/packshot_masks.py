"""Item-mask quality on packshots: detector (today), u2netp and the packshot path.

    OMP_NUM_THREADS=1 python benchmarks/packshot_masks.py [--n 80] [--json benchmarks/results/packshot-masks.json]
    python benchmarks/packshot_masks.py --sheet /tmp/sheet   # contact sheets of the sets (to look at)

The measurement set is derived, not drawn by any method under test:

* **composites** (per source of ``jewelry-types``): a catalogue piece is cut out of a photo whose
  border is plain (a soft alpha from its colour distance to the border's median; the photo is
  skipped when the piece touches the border or the cut-out is a speck), then pasted with that
  alpha, scaled and moved, onto a *different*, generated plain background: a flat colour, a
  linear or radial gradient, a soft drop shadow cast by the piece itself, film-grain noise,
  paper-like low-frequency texture or a fine weave. The composite is JPEG-compressed. The truth
  is ``alpha >= 0.5`` of the pasted piece, exact for the composed image whatever the cut-out
  missed, and the shadow is background in it.
* **real photos without masks**: how often the packshot path engages (and so replaces the
  detector's mask) on pcjeweller packshots (another shop) and, where it must not, on its worn
  views and on ring-hands photos.

Sources are kept apart: the packshot path's parameters were chosen on the
``princesegzy01_jewellery5`` composites only (seed 0); ``tanishq_kaggle_mirror`` composites
(and the engagement rates on pcjeweller and ring-hands) report. Nothing here is written into the repository except the JSON of
figures (no photo, path or mask).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

TUNE_SOURCE = "princesegzy01_jewellery5"
REPORT_SOURCES = ("tanishq_kaggle_mirror",)


def data_root() -> Path:
    from jewel_vision.training.data import default_data_root

    return default_data_root()


# ---------------------------------------------------------------------------------------
# cut-outs from plain-background catalogue photos
# ---------------------------------------------------------------------------------------
def border_pixels(a: np.ndarray, frac: float = 0.03) -> np.ndarray:
    h, w = a.shape[:2]
    b = max(2, int(round(frac * min(h, w))))
    return np.concatenate([a[:b].reshape(-1, 3), a[-b:].reshape(-1, 3), a[:, :b].reshape(-1, 3), a[:, -b:].reshape(-1, 3)])


def cut_out(img: Image.Image) -> np.ndarray | None:
    """Soft alpha [H, W] of the piece in a photo with a plain border, or None (not usable)."""
    from scipy import ndimage

    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    border = border_pixels(a)
    bg = np.median(border, 0)
    spread = np.percentile(np.abs(border - bg).max(1), 99)
    if spread > 6:
        return None
    d = np.abs(a - bg).max(2)
    alpha = np.clip((d - 8.0) / 24.0, 0.0, 1.0)
    alpha = ndimage.median_filter(alpha, size=3)
    solid = alpha >= 0.5
    lab, n = ndimage.label(solid)
    if n == 0:
        return None
    sizes = ndimage.sum(solid, lab, range(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= max(30, 0.01 * sizes.max())
    solid = keep[lab]
    # tiny enclosed specks of background colour inside the metal (highlights) belong to the piece
    holes = ndimage.binary_fill_holes(solid) & ~solid
    hl, hn = ndimage.label(holes)
    if hn:
        hs = ndimage.sum(holes, hl, range(1, hn + 1))
        small = np.zeros(hn + 1, bool)
        small[1:] = hs < 0.0005 * solid.size
        alpha = np.where(small[hl], 1.0, alpha)
    alpha = np.where(ndimage.binary_dilation(solid, iterations=2) | (alpha >= 1.0), alpha, 0.0)
    m = alpha >= 0.5
    if m.mean() < 0.01 or m.mean() > 0.7:
        return None
    b = 3
    if m[:b].any() or m[-b:].any() or m[:, :b].any() or m[:, -b:].any():
        return None
    return alpha.astype(np.float32)


# ---------------------------------------------------------------------------------------
# generated plain backgrounds
# ---------------------------------------------------------------------------------------
PALETTE = [
    (255, 255, 255), (246, 244, 240), (238, 238, 238), (225, 225, 228), (236, 226, 208), (244, 230, 232),
    (222, 232, 242), (200, 200, 204), (150, 150, 155), (90, 90, 96), (40, 40, 44), (12, 12, 12),
    (22, 32, 64), (28, 64, 48), (92, 20, 36), (230, 214, 180), (190, 160, 120), (250, 250, 235),
]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    small = rng.normal(size=(max(2, h // scale), max(2, w // scale))).astype(np.float32)
    im = Image.fromarray(small, mode="F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.float32)


def background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    c0 = np.array(PALETTE[rng.integers(len(PALETTE))], np.float32)
    kind = rng.choice(["flat", "linear", "radial"], p=[0.4, 0.35, 0.25])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "flat":
        bg = np.broadcast_to(c0, (h, w, 3)).copy()
    else:
        delta = rng.uniform(15, 45) * rng.choice([-1, 1])
        c1 = np.clip(c0 + delta + rng.normal(0, 6, 3), 0, 255)
        if kind == "linear":
            ang = rng.uniform(0, 2 * np.pi)
            t = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
            t = (t - t.min()) / max(1e-6, t.max() - t.min())
        else:
            cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
            t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / (0.75 * max(h, w))
            t = np.clip(t, 0, 1)
        bg = c0 + t[..., None] * (c1 - c0)
    tex = rng.choice(["none", "grain", "paper", "weave"], p=[0.35, 0.25, 0.25, 0.15])
    if tex == "grain":
        bg = bg + rng.normal(0, rng.uniform(1.5, 5), (h, w, 1))
    elif tex == "paper":
        bg = bg + rng.uniform(2, 5) * _smooth_noise(rng, h, w, int(rng.integers(6, 30)))[..., None]
    elif tex == "weave":
        p = rng.uniform(3, 6)
        bg = bg + rng.uniform(2, 6) * (np.sin(2 * np.pi * xx / p) * np.sin(2 * np.pi * yy / p))[..., None]
    return bg, f"{kind}/{tex}"


def composite(piece: Image.Image, alpha: np.ndarray, rng: np.random.Generator):
    """(image, truth mask, description): ``piece`` pasted with ``alpha`` onto a generated background."""
    from scipy import ndimage

    ys, xs = np.nonzero(alpha >= 0.5)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = 2
    y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
    y1, x1 = min(alpha.shape[0], y1 + pad), min(alpha.shape[1], x1 + pad)
    fg = np.asarray(piece.convert("RGB"), np.float32)[y0:y1, x0:x1]
    al = alpha[y0:y1, x0:x1]
    W = int(rng.integers(360, 513))
    H = int(W * rng.uniform(0.75, 1.33))
    H = min(H, 512)
    fill = rng.uniform(0.35, 0.85)
    s = fill * min(W / fg.shape[1], H / fg.shape[0])
    nw, nh = max(8, int(fg.shape[1] * s)), max(8, int(fg.shape[0] * s))
    fg = np.asarray(Image.fromarray(fg.clip(0, 255).astype(np.uint8)).resize((nw, nh), Image.Resampling.LANCZOS), np.float32)
    al = np.asarray(Image.fromarray(al, mode="F").resize((nw, nh), Image.Resampling.BILINEAR), np.float32).clip(0, 1)
    ox = int(rng.integers(int(0.06 * W), max(int(0.06 * W) + 1, W - nw - int(0.06 * W))))
    oy = int(rng.integers(int(0.06 * H), max(int(0.06 * H) + 1, H - nh - int(0.06 * H))))
    bg, desc = background(rng, H, W)
    big_alpha = np.zeros((H, W), np.float32)
    big_alpha[oy:oy + nh, ox:ox + nw] = al[: H - oy, : W - ox]
    big_fg = np.zeros((H, W, 3), np.float32)
    big_fg[oy:oy + nh, ox:ox + nw] = fg[: H - oy, : W - ox]
    if rng.random() < 0.5:  # soft drop shadow cast by the piece
        dx, dy = rng.integers(-12, 13), rng.integers(2, 18)
        sh = ndimage.shift(big_alpha, (dy, dx), order=0)
        sh = ndimage.gaussian_filter(sh, rng.uniform(3, 12))
        strength = rng.uniform(0.25, 0.55)
        bg = bg * (1 - strength * sh[..., None])
        desc += "/shadow"
    out = big_alpha[..., None] * big_fg + (1 - big_alpha[..., None]) * bg
    img = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(80, 96)))
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img, big_alpha >= 0.5, desc


def composite_set(source: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` composites from ``jewelry-types`` photos of ``source`` (one per product group)."""
    root = data_root() / "jewelry-types"
    rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if r["source"] == source]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    out, groups = [], set()
    for i in order:
        r = rows[i]
        if r["group_id"] in groups:
            continue
        with Image.open(root / r["path"]) as im:
            img = im.convert("RGB")
        alpha = cut_out(img)
        if alpha is None:
            continue
        groups.add(r["group_id"])
        prng = np.random.default_rng([seed, int(i)])
        comp, truth, desc = composite(img, alpha, prng)
        out.append({"image": comp, "truth": truth, "kind": desc, "type": r["type"], "id": f"{source}:{i}"})
        if len(out) >= n:
            break
    return out


# ---------------------------------------------------------------------------------------
# real photos without masks: where does the packshot path engage?
# ---------------------------------------------------------------------------------------
def pcj_photos(worn: str) -> list[Image.Image]:
    root = data_root() / "pcjeweller"
    out = []
    for r in csv.DictReader(open(root / "manifest.csv")):
        if r["worn"] == worn:
            with Image.open(root / r["path"]) as im:
                img = im.convert("RGB")
            img.thumbnail((1024, 1024))
            out.append(img)
    return out


def ring_hands_photos(n: int) -> list[Image.Image]:
    root = data_root() / "ring-hands"
    rows = list(csv.DictReader(open(root / "manifest.csv")))
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:n]]
    out = []
    for r in rows:
        with Image.open(root / r["path"]) as im:
            out.append(im.convert("RGB"))
    return out


# ---------------------------------------------------------------------------------------
# contact sheets
# ---------------------------------------------------------------------------------------
def overlay(img: Image.Image, mask: np.ndarray, size: int = 200, fill: bool = True) -> Image.Image:
    from scipy import ndimage

    a = np.asarray(img.convert("RGB"), np.float32).copy()
    edge = mask ^ ndimage.binary_erosion(mask, iterations=1)
    edge = ndimage.binary_dilation(edge, iterations=1)
    if fill:
        a[mask] = 0.75 * a[mask] + 0.25 * np.array([0, 255, 0])
    a[edge] = (255, 0, 255) if fill else (0, 160, 255)
    out = Image.fromarray(a.astype(np.uint8))
    out.thumbnail((size, size))
    return out


def sheet(items: list[dict], masks: list[np.ndarray], path: str, cols: int = 6, size: int = 200, truth: bool = False) -> None:
    from PIL import ImageDraw

    rows = (len(items) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * size * 2, rows * (size + 14)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for k, (it, m) in enumerate(zip(items, masks)):
        x, y = (k % cols) * size * 2, (k // cols) * (size + 14)
        im = overlay(it["image"], it["truth"], size, fill=False) if truth else it["image"].copy()
        im.thumbnail((size, size))
        canvas.paste(im, (x, y + 14))
        canvas.paste(overlay(it["image"], m, size), (x + size, y + 14))
        draw.text((x + 2, y), f"{k} {it['id'][-14:]} {it['kind']}", fill=(0, 0, 0))
    canvas.save(path)


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------
def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


class Methods:
    """The three item-mask paths exactly as the pipeline takes them."""

    def __init__(self, u2netp: bool = True) -> None:
        from jewel_vision.vision.pipeline import Pipeline, PipelineConfig

        self.pipeline = Pipeline(PipelineConfig(device="cpu", ocr_engine=None, stones=False))
        self.pipeline.detector.load()
        self.segmenter = None
        if u2netp:
            from jewel_vision.vision.predictors.segmenter import ItemSegmenter

            self.segmenter = ItemSegmenter()
            self.segmenter.load()

    def detector(self, img: Image.Image):
        """(item mask or None, pieces): the union of the pieces the detector is sure of."""
        from jewel_vision.vision.pipeline import _union_mask

        cfg = self.pipeline.config
        items = [it for it in self.pipeline.detector.detect([img])[0] if it.area_fraction >= cfg.min_piece_area]
        return _union_mask(items, cfg.item_region_min_score), items

    def packshot(self, img: Image.Image, items: list):
        """The packshot mask, or None where the pipeline keeps the detector's (worn, or not sure)."""
        from jewel_vision.vision.packshot_mask import packshot_mask

        if self.pipeline._view(img, items)[1] is not None:  # worn: cropped to skin around the pieces
            return None
        return packshot_mask(img).mask

    def u2netp(self, img: Image.Image) -> np.ndarray:
        return self.segmenter.segment([img])[0] >= 0.5


def evaluate(items: list[dict], methods: Methods) -> dict:
    res = {"n": len(items), "iou": {}, "ms": {}}
    ious = {"detector": [], "u2netp": [], "packshot_path": []}
    ms = {"detector": [], "u2netp": [], "packshot_mask": []}
    engaged = 0
    kinds: dict[str, list[float]] = {}
    for it in items:
        img, truth = it["image"], it["truth"]
        t0 = time.perf_counter()
        det, pieces = methods.detector(img)
        ms["detector"].append(1000 * (time.perf_counter() - t0))
        det = det if det is not None else np.zeros_like(truth)
        t0 = time.perf_counter()
        pm = methods.packshot(img, pieces)
        ms["packshot_mask"].append(1000 * (time.perf_counter() - t0))
        engaged += pm is not None
        new = pm if pm is not None else det
        ious["detector"].append(iou(det, truth))
        ious["packshot_path"].append(iou(new, truth))
        for k in it["kind"].split("/"):
            kinds.setdefault(k, []).append(ious["packshot_path"][-1])
        if methods.segmenter is not None:
            t0 = time.perf_counter()
            u = methods.u2netp(img)
            ms["u2netp"].append(1000 * (time.perf_counter() - t0))
            ious["u2netp"].append(iou(u, truth))
    for k, v in ious.items():
        if v:
            res["iou"][k] = round(float(np.mean(v)), 3)
            res.setdefault("iou_median", {})[k] = round(float(np.median(v)), 3)
    res["ms"] = {k: round(float(np.mean(v)), 1) for k, v in ms.items() if v}
    res["ms"]["packshot_path"] = round(res["ms"]["detector"] + res["ms"]["packshot_mask"], 1)
    res["packshot_engaged"] = round(engaged / max(1, len(items)), 3)
    res["packshot_path_iou_by_background"] = {k: [round(float(np.mean(v)), 3), len(v)] for k, v in sorted(kinds.items())}
    return res


def engagement(photos: list[Image.Image], methods: Methods) -> dict:
    engaged = 0
    for img in photos:
        _, pieces = methods.detector(img)
        engaged += methods.packshot(img, pieces) is not None
    return {"n": len(photos), "packshot_engaged": round(engaged / max(1, len(photos)), 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=80, help="composites per source")
    parser.add_argument("--ring-hands", type=int, default=60, help="ring-hands photos for the engagement rate")
    parser.add_argument("--no-u2netp", action="store_true")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--sheet", default=None, help="write contact sheets (truth, packshot path) with this prefix")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    methods = Methods(u2netp=not args.no_u2netp)
    out = {
        "method": "packshot-mask",
        "tuned_on": f"{TUNE_SOURCE} composites (seed 0)",
        "composites_per_source": args.n,
        "sources": {},
        "engagement": {},
    }
    for source in (TUNE_SOURCE,) + REPORT_SOURCES:
        items = composite_set(source, args.n, seed=0 if source == TUNE_SOURCE else 1)
        # warm-up (first calls load and allocate)
        methods.detector(items[0]["image"])
        if methods.segmenter is not None:
            methods.u2netp(items[0]["image"])
        res = evaluate(items, methods)
        res["role"] = "tuning" if source == TUNE_SOURCE else "report"
        out["sources"][source] = res
        print(source, json.dumps(res), flush=True)
        if args.sheet:
            from jewel_vision.vision.packshot_mask import packshot_mask

            masks = []
            for it in items[:36]:
                m = packshot_mask(it["image"]).mask
                masks.append(m if m is not None else np.zeros_like(it["truth"]))
            sheet(items[:36], masks, f"{args.sheet}-{source}.png", size=160, truth=True)
    out["engagement"]["pcjeweller packshots (worn=0)"] = engagement(pcj_photos("0"), methods)
    out["engagement"]["pcjeweller worn views (worn=1)"] = engagement(pcj_photos("1"), methods)
    if args.ring_hands:
        out["engagement"]["ring-hands (worn)"] = engagement(ring_hands_photos(args.ring_hands), methods)
    print(json.dumps(out["engagement"]), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
