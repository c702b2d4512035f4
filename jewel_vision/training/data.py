"""Datasets and splits for the jewelry detector (the training crops made from them: :mod:`.compositing`).

Nothing here imports Django or torch. Images are only ever read from the
shared dataset folder; derived arrays (downscaled images, masks, packshot
cut-outs) are cached under ``var/cache/jewel_vision/detector`` (git-ignored).

ring-hands
    1,899 800x600 photos of hands wearing one annotated ring (box + binary mask).
    267 rows carry ``flag_possible_watch_or_bracelet=1``. Looking at them, the
    labelled object is a wrist watch or bracelet at the top edge (the wrist) in
    all the photos inspected, and the mask follows the watch/bracelet well. They
    are *relabelled* ``wristwear`` here: used as (class-agnostic) jewelry
    positives in training, and never used for the ring figures.

    There is no subject id. File names are numbered (``Hand_0001649``) and a
    photo session is a run of consecutive numbers; sessions are cut where the
    numbering jumps by more than ``SESSION_GAP`` (=10) and the held-out split
    takes whole sessions (never single rows), so near-duplicate frames of one
    hand never straddle the split.

jewelry-types
    Packshots on (mostly) plain white/black backgrounds. :func:`cutout_packshot`
    separates the item from a uniform background by colour distance to the
    border colour; photos whose border is not uniform are skipped. The cut-outs
    are pasted onto hand photos to teach the detector other kinds of jewelry.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .common import log

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "cache" / "jewel_vision" / "detector"
SESSION_GAP = 10
RING_HANDS = "ring-hands"
JEWELRY_TYPES = "jewelry-types"

__all__ = [
    "RingRow",
    "default_data_root",
    "read_ring_hands",
    "assign_sessions",
    "split_ring_hands",
    "heldout_ring_rows",
    "load_mask",
    "ring_gt",
    "instance_boxes",
    "RingHandsCache",
    "cutout_packshot",
    "load_cutouts",
]


def default_data_root() -> Path:
    """``$JEWEL_VISION_DATASETS``, else ``<repo>/../shared/datasets`` (as in CI), else /work/shared/datasets."""
    env = os.environ.get("JEWEL_VISION_DATASETS")
    if env:
        return Path(env)
    for cand in (REPO_ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets")):
        if cand.is_dir():
            return cand
    return REPO_ROOT.parent / "shared" / "datasets"


# ---------------------------------------------------------------------------------------
# ring-hands
# ---------------------------------------------------------------------------------------
@dataclass
class RingRow:
    path: str  # absolute image path
    mask_path: str  # absolute mask path
    number: int  # file number, e.g. 1649 for Hand_0001649.jpg
    boxes: list[tuple[float, float, float, float]]  # x0, y0, x1, y1 normalised 0-1
    label: str  # "ring", or "wristwear" for the flagged rows
    width: int
    height: int
    session: int = -1

    @property
    def flagged(self) -> bool:
        return self.label != "ring"

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def _file_number(path: str) -> int:
    match = re.search(r"(\d+)(?=\.[A-Za-z]+$)", path)
    if not match:
        raise ValueError(f"no file number in {path!r}")
    return int(match.group(1))


def _parse_boxes(text: str) -> list[tuple[float, float, float, float]]:
    boxes = []
    for part in text.split(";"):
        vals = [float(v) for v in part.split()]
        if len(vals) != 4:
            continue
        cx, cy, w, h = vals
        boxes.append((max(0.0, cx - w / 2), max(0.0, cy - h / 2), min(1.0, cx + w / 2), min(1.0, cy + h / 2)))
    return boxes


def read_ring_hands(data_root: str | os.PathLike[str] | None = None) -> list[RingRow]:
    """All rows of ring-hands/manifest.csv, sorted by file number, with sessions assigned."""
    folder = Path(data_root or default_data_root()) / RING_HANDS
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest not found: {manifest} (pass --data DIR)")
    rows = []
    with open(manifest, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            flagged = str(r.get("flag_possible_watch_or_bracelet", "0")).strip() == "1"
            rows.append(
                RingRow(
                    path=str(folder / r["path"]),
                    mask_path=str(folder / r["mask_path"]),
                    number=_file_number(r["path"]),
                    boxes=_parse_boxes(r["boxes_yolo_norm"]),
                    label="wristwear" if flagged else "ring",
                    width=int(r["width"]),
                    height=int(r["height"]),
                )
            )
    rows.sort(key=lambda row: (row.number, row.path))
    assign_sessions(rows)
    return rows


def assign_sessions(rows: Sequence[RingRow], gap: int = SESSION_GAP) -> int:
    """Number the photo sessions: a new one starts where file numbers jump by more than ``gap``."""
    session = -1
    prev = None
    for row in sorted(rows, key=lambda r: r.number):
        if prev is None or row.number - prev > gap:
            session += 1
        row.session = session
        prev = row.number
    return session + 1


def split_ring_hands(
    rows: Sequence[RingRow], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[RingRow], list[RingRow]]:
    """(train, held-out) by whole sessions; ~val_fraction of the *ring* rows end up held out.

    Sessions are shuffled with ``seed`` and taken until the held-out side has
    enough ring rows. Flagged (wristwear) rows follow their session, so the
    held-out side also holds some wristwear rows (reported separately, never
    in the ring figures).
    """
    sessions: dict[int, list[RingRow]] = {}
    for row in rows:
        sessions.setdefault(row.session, []).append(row)
    order = sorted(sessions)
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    n_ring = sum(1 for r in rows if not r.flagged)
    target = val_fraction * n_ring
    val_sessions: set[int] = set()
    taken = 0
    for s in order:
        if taken >= target:
            break
        val_sessions.add(s)
        taken += sum(1 for r in sessions[s] if not r.flagged)
    train = [r for r in rows if r.session not in val_sessions]
    val = [r for r in rows if r.session in val_sessions]
    return train, val


def heldout_ring_rows(
    data_root: str | os.PathLike[str] | None = None, n: int | None = None, seed: int = 0
) -> list[RingRow]:
    """Held-out, unflagged ring rows (the split the detector card reports); ``n`` evenly spaced ones if given."""
    _, val = split_ring_hands(read_ring_hands(data_root), seed=seed)
    val = [r for r in val if not r.flagged]
    if n is not None and n < len(val):
        idx = np.linspace(0, len(val) - 1, n).round().astype(int)
        val = [val[i] for i in idx]
    return val


def load_mask(row: RingRow) -> np.ndarray:
    """Ground-truth mask, bool HxW at the image's resolution."""
    from PIL import Image

    with Image.open(row.mask_path) as im:
        arr = np.asarray(im.convert("L"))
    return arr > 127


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


class RingHandsCache:
    """Decoded images and masks of ring-hands rows as uint8 memmaps (full and half resolution).

    Built once (about a minute), keyed by the list of rows; lives under ``var/cache``.
    """

    def __init__(self, rows: Sequence[RingRow], cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR) -> None:
        self.rows = list(rows)
        h, w = self.rows[0].height, self.rows[0].width
        if any((r.height, r.width) != (h, w) for r in self.rows):
            raise ValueError("RingHandsCache needs rows of one size")
        key = hashlib.sha256("\n".join(r.path for r in self.rows).encode()).hexdigest()[:12]
        folder = Path(cache_dir) / f"ringhands-{key}"
        folder.mkdir(parents=True, exist_ok=True)
        n = len(self.rows)
        shapes = {
            "img": (n, h, w, 3),
            "mask": (n, h, w),
            "img_half": (n, h // 2, w // 2, 3),
            "mask_half": (n, h // 2, w // 2),
        }
        done = folder / "done.json"
        if not done.is_file():
            import cv2

            log(f"caching {n} ring-hands images in {folder} ...")
            arrays = {k: np.lib.format.open_memmap(folder / f"{k}.npy", mode="w+", dtype=np.uint8, shape=s)
                      for k, s in shapes.items()}
            for i, row in enumerate(self.rows):
                img = load_rgb(row.path)
                mask = load_mask(row).astype(np.uint8) * 255
                arrays["img"][i] = img
                arrays["mask"][i] = mask
                arrays["img_half"][i] = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                arrays["mask_half"][i] = cv2.resize(mask, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            for a in arrays.values():
                a.flush()
            del arrays
            done.write_text(json.dumps({"n": n, "paths": [r.path for r in self.rows][:3]}))
        self.img = np.load(folder / "img.npy", mmap_mode="r")
        self.mask = np.load(folder / "mask.npy", mmap_mode="r")
        self.img_half = np.load(folder / "img_half.npy", mmap_mode="r")
        self.mask_half = np.load(folder / "mask_half.npy", mmap_mode="r")
        # Object boxes in full-res pixels (x0, y0, x1, y1; exclusive end): one per group of mask
        # components (parts closer than ~12 px merged), where samples are centred. The masks mark
        # *all* the jewelry in a photo (often a watch or a second ring besides the boxed ring), so
        # one photo can have several. ``instances`` are the pieces whose centres the centre head
        # learns: the same groups, except that a group running well outside the boxed ring's box
        # (a second ring touching it) is cut at the box; ``ring_instance[i]`` is the boxed ring's.
        self.obj_boxes: list[list[tuple[float, float, float, float]]] = []
        self.instances: list[list[tuple[float, float, float, float]]] = []
        self.ring_instance: list[int | None] = []
        for i, row in enumerate(self.rows):
            m = self.mask_half[i] > 127
            fallback = [tuple(v * f for v, f in zip(row.boxes[0], (w, h, w, h)))] if row.boxes else []
            groups, _ = instance_boxes(m, [], scale=2.0)
            pieces, ring_k = instance_boxes(m, row.boxes if not row.flagged else [], scale=2.0)
            self.obj_boxes.append(groups or fallback)
            self.instances.append(pieces or fallback)
            self.ring_instance.append(ring_k)


def instance_boxes(mask: np.ndarray, ring_boxes: Sequence[tuple[float, float, float, float]] = (), scale: float = 1.0,
                   ) -> tuple[list[tuple[float, float, float, float]], int | None]:
    """(instance boxes in pixels x ``scale``, index of the first ring box's instance or None) of a bool mask.

    Instances are groups of components closer than 7 px. A group that overlaps a
    ring box (normalised, grown by 10 % + 2 px) with at least a quarter of its
    pixels outside it and a quarter inside is two touching pieces: it is cut at
    the box (the ring-hands masks merge rings touching on neighbouring fingers,
    while the box marks one of them).
    """
    import cv2

    m = mask.astype(np.uint8)
    H, W = m.shape
    boxes: list[tuple[float, float, float, float]] = []
    ring_k: int | None = None
    if not m.any():
        return boxes, ring_k
    grown = np.zeros_like(m)
    for x0, y0, x1, y1 in ring_boxes:
        gx, gy = 0.1 * (x1 - x0) * W + 2, 0.1 * (y1 - y0) * H + 2
        grown[max(0, int(y0 * H - gy)) : int(np.ceil(y1 * H + gy)), max(0, int(x0 * W - gx)) : int(np.ceil(x1 * W + gx))] = 1
    n_lab, lab = cv2.connectedComponents(cv2.dilate(m, np.ones((7, 7), np.uint8)), connectivity=8)

    def add(part: np.ndarray) -> int | None:
        if part.sum() < 6:
            return None
        ys, xs = np.nonzero(part)
        boxes.append((scale * xs.min(), scale * ys.min(), scale * (xs.max() + 1), scale * (ys.max() + 1)))
        return len(boxes) - 1

    for k in range(1, n_lab):
        part = (lab == k) & (m > 0)
        inside = part & (grown > 0)
        n_in, n_all = int(inside.sum()), int(part.sum())
        if n_in and ring_boxes and 0.25 * n_all <= n_in <= 0.75 * n_all:
            k_in = add(inside)
            if ring_k is None:
                ring_k = k_in
            rest = (part & (grown == 0)).astype(np.uint8)
            n_r, lab_r = cv2.connectedComponents(cv2.dilate(rest, np.ones((7, 7), np.uint8)), connectivity=8)
            for kr in range(1, n_r):
                add((lab_r == kr) & (rest > 0))
        else:
            k_all = add(part)
            if ring_k is None and n_in >= 0.5 * n_all:
                ring_k = k_all
    return boxes, ring_k


def ring_gt(row: RingRow, mask: np.ndarray | None = None) -> tuple[list[tuple[float, float, float, float]], np.ndarray]:
    """(ground-truth ring boxes, mask of the boxed rings) for evaluation.

    A manifest box marks one ring, but the mask marks all the jewelry in the
    photo (a watch, a second ring). The ring's mask is the mask inside its box
    (grown by 10 % + 3 px). A few manifest boxes are degenerate (under 8x6 px,
    or less than 15 % of the box on the mask, e.g. a few pixels at the ring's
    edge): those are replaced by the bounding box of the mask components
    (3-px dilation) they overlap, when there are any. Boxes are normalised
    (x0, y0, x1, y1).
    """
    import cv2

    if mask is None:
        mask = load_mask(row)
    H, W = mask.shape
    boxes, ring_mask = [], np.zeros_like(mask)
    lab = None
    for x0, y0, x1, y1 in row.boxes:
        bx0, by0 = int(np.floor(x0 * W)), int(np.floor(y0 * H))
        bx1, by1 = max(bx0 + 1, int(np.ceil(x1 * W))), max(by0 + 1, int(np.ceil(y1 * H)))
        inside = mask[by0:by1, bx0:bx1].mean() if (by1 > by0 and bx1 > bx0) else 0.0
        if (bx1 - bx0) >= 8 and (by1 - by0) >= 6 and inside >= 0.15:
            gx, gy = 0.1 * (bx1 - bx0) + 3, 0.1 * (by1 - by0) + 3
            gx0, gy0 = max(0, int(bx0 - gx)), max(0, int(by0 - gy))
            gx1, gy1 = min(W, int(np.ceil(bx1 + gx))), min(H, int(np.ceil(by1 + gy)))
            ring_mask[gy0:gy1, gx0:gx1] |= mask[gy0:gy1, gx0:gx1]
            boxes.append((x0, y0, x1, y1))
            continue
        if lab is None:
            _, lab = cv2.connectedComponents(cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)), connectivity=8)
            lab = np.where(mask, lab, 0)
        ids = np.unique(lab[max(0, by0 - 1) : by1 + 1, max(0, bx0 - 1) : bx1 + 1])
        ids = ids[ids > 0]
        if len(ids) == 0:
            boxes.append((x0, y0, x1, y1))
            continue
        part = np.isin(lab, ids)
        ring_mask |= part
        ys, xs = np.nonzero(part)
        boxes.append((xs.min() / W, ys.min() / H, (xs.max() + 1) / W, (ys.max() + 1) / H))
    return boxes, ring_mask


# ---------------------------------------------------------------------------------------
# jewelry-types cut-outs
# ---------------------------------------------------------------------------------------
def cutout_packshot(rgb: np.ndarray, max_side: int = 160) -> np.ndarray | None:
    """RGBA cut-out of a packshot on a plain background, or None when the background is not plain.

    The background colour is the median of a 4-px border; it must be uniform
    (per-channel MAD <= 6) and light (>= 200) or dark (<= 50). Foreground =
    colour distance > 40 (clean edges after a 3x3 open/close); the largest
    components are kept (others < 2 % of it dropped); holes are left open
    (a ring's hole stays background).
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
    b = 4
    border = np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3), rgb[:, :b].reshape(-1, 3),
                             rgb[:, -b:].reshape(-1, 3)]).astype(np.float32)
    bg = np.median(border, axis=0)
    mad = np.median(np.abs(border - bg), axis=0)
    if mad.max() > 6 or not (bg.min() >= 200 or bg.max() <= 50):
        return None
    dist = np.sqrt(((rgb.astype(np.float32) - bg) ** 2).sum(-1))
    fg = (dist > 40).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.nonzero(areas >= 0.02 * areas.max())[0]
    fg = np.isin(lab, keep)
    frac = fg.mean()
    if not (0.03 <= frac <= 0.75):
        return None
    ys, xs = np.nonzero(fg)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # soft edge: alpha from the distance, clipped to the kept components (dilated by 1)
    alpha = np.clip((dist - 25.0) / 30.0, 0, 1) * cv2.dilate(fg.astype(np.uint8), kernel)
    out = np.dstack([rgb, (alpha * 255).astype(np.uint8)])[y0:y1, x0:x1]
    return np.ascontiguousarray(out)


def load_cutouts(
    data_root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
    max_side: int = 160,
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """(RGBA cut-outs, their types, their group ids) from jewelry-types; cached as an .npz."""
    folder = Path(data_root or default_data_root()) / JEWELRY_TYPES
    cache = Path(cache_dir) / f"cutouts-{max_side}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        sizes = z["sizes"]
        flat = z["pixels"]
        outs, off = [], 0
        for hh, ww in sizes:
            outs.append(flat[off : off + hh * ww * 4].reshape(hh, ww, 4))
            off += hh * ww * 4
        return outs, [str(t) for t in z["types"]], [str(g) for g in z["groups"]]
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return [], [], []
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    outs, types, groups = [], [], []
    for r in rows:
        try:
            cut = cutout_packshot(load_rgb(str(folder / r["path"])), max_side=max_side)
        except Exception:  # noqa: BLE001 - a broken file is just skipped
            cut = None
        if cut is not None and min(cut.shape[:2]) >= 8:
            outs.append(cut)
            types.append(r["type"])
            groups.append(r.get("group_id") or r["path"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        pixels=np.concatenate([o.ravel() for o in outs]) if outs else np.zeros(0, np.uint8),
        sizes=np.array([o.shape[:2] for o in outs], dtype=np.int64).reshape(-1, 2),
        types=np.array(types, dtype=np.str_),
        groups=np.array(groups, dtype=np.str_),
    )
    log(f"cut out {len(outs)} of {len(rows)} jewelry-types packshots")
    return outs, types, groups
