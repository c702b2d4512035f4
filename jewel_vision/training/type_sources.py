"""Photos for the type head from every source we have, as the pipeline would see them.

Each :class:`Sample` is one view the pipeline embeds: a whole catalogue photo, or
a crop around a worn piece made exactly like the pipeline's (``pipeline.crop_around``).
It names its *sources* (the shops or photo sets whose pixels it holds) so that
leave-one-source-out evaluation can keep a source entirely out of training:

* ``princesegzy01`` and ``tanishq``: the two shops of ``jewelry-types`` (packshots);
* ``pcjeweller``: a third shop, packshots and worn views (labels mapped to ours);
* ``ring-hands``: rings worn on hands, cropped around the annotated ring;
* ``people-parsing``: people in the street: crops around the jewelry its label
  maps mark (bracelets, necklaces, watches, rings), and ``none`` crops of skin
  and clothes where no jewelry is marked (the negatives);
* ``blank``: photos of nothing (plain colours, gradients, noise), also ``none``;
* composites: a catalogue piece cut out with its mask and pasted where it is worn
  on a person of ``people-parsing`` who wears no jewelry there (earrings beside
  the face, necklaces below it, bracelets and watches on a forearm, rings at the
  end of a hand), under varied scale, rotation, light, blur and occlusion; its
  sources are the piece's shop *and* ``people-parsing``.
  Bracelets also go on the wrists of ``ring-hands`` photos (``--hand-composites``):
  their sources are the piece's shop *and* ``ring-hands``.

No photo is copied anywhere: samples are recipes (a path and parameters), and
only their embeddings are cached (under ``var/``).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.pipeline import crop_around

from .common import AugmentSpec, augment
from .data import cutout_packshot, load_rgb, read_ring_hands, split_ring_hands

#: Labels of other data sets mapped to ours (pendants and chains are too few to learn alone).
PCJ_LABELS = {"ring": "ring", "earring": "earring", "bracelet": "bracelet", "bangle": "bracelet",
              "pendant": "necklace", "chain": "necklace"}
#: people-parsing label ids
PP_SKIN, PP_HAIR = 41, 19
PP_JEWELRY = {"bracelet": 9, "necklace": 29, "ring": 34, "watch": 57, "earring": 15}
NONE = "none"
SOURCE_NAMES = {"princesegzy01_jewellery5": "princesegzy01", "tanishq_kaggle_mirror": "tanishq"}


@dataclass
class Sample:
    """One view to embed: ``make(rng)`` returns it as a PIL image."""

    key: str  # stable identity, for the embedding cache
    label: str
    sources: tuple[str, ...]
    group: str  # never split across train / validation / test
    kind: str  # "packshot", "worn", "composite", "negative"
    make: Callable[[np.random.Generator], Image.Image] = field(repr=False)
    host: str = ""  # a composite's host photo's group (it trains only where that photo does)

    @property
    def source(self) -> str:
        """The source it is scored under (composites are never scored)."""
        return self.sources[0]


def _view(img: Image.Image, box, rng: np.random.Generator) -> Image.Image:
    """The view around a worn piece: half the time as the pipeline crops a street photo
    (at least a fifth of the photo), half the time as a close-up (a lifestyle shot of an
    ear, a neck or a hand: 1.3-3.5 x the piece), so the piece is seen at every scale."""
    if rng.random() < 0.5:
        return crop_around(img, box, float(rng.uniform(1.4, 2.0)))
    return crop_around(img, box, float(rng.uniform(1.3, 3.5)), min_fraction=0.0)


def _open(path: Path) -> Image.Image:
    return load_image(path)


# ---------------------------------------------------------------------------------------
# catalogue photos
# ---------------------------------------------------------------------------------------
def catalogue_samples(root: Path) -> list[Sample]:
    out = []
    folder = root / "jewelry-types"
    if (folder / "manifest.csv").is_file():
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
            for r in sorted(csv.DictReader(fh), key=lambda r: r["path"]):
                src = SOURCE_NAMES.get(r["source"], r["source"])
                path = folder / r["path"]
                out.append(Sample(f"jt:{r['path']}", r["type"], (src,), f"jt:{r['group_id'] or r['path']}",
                                  "packshot", lambda rng, path=path: _open(path)))
    folder = root / "pcjeweller"
    if (folder / "manifest.csv").is_file():
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
            for r in sorted(csv.DictReader(fh), key=lambda r: r["path"]):
                label = PCJ_LABELS.get(r["type"])
                if label is None:
                    continue
                path = folder / r["path"]
                kind = "worn" if r.get("worn") == "1" else "packshot"
                out.append(Sample(f"pcj:{r['path']}", label, ("pcjeweller",), f"pcj:{r['group_id']}", kind,
                                  lambda rng, path=path: _open(path)))
    return out


def ring_hand_samples(root: Path, limit: int = 700, seed: int = 0) -> list[Sample]:
    """Crops around the rings of the detector's *training* sessions (its held-out ones stay unseen)."""
    rows = _hand_hosts(root)
    rng = np.random.default_rng(seed)
    if len(rows) > limit:
        rows = [rows[i] for i in sorted(rng.choice(len(rows), limit, replace=False))]
    return [
        Sample(f"rh:{Path(r.path).name}", "ring", ("ring-hands",), f"rh:{r.session}", "worn",
               lambda rng, r=r: crop_around(_open(Path(r.path)), r.boxes[0], float(rng.uniform(1.4, 2.0))))
        for r in rows
    ]


# ---------------------------------------------------------------------------------------
# people-parsing: real worn jewelry and negatives
# ---------------------------------------------------------------------------------------
@dataclass
class Person:
    path: Path
    labels: Path
    jewelry: dict[str, int]  # pixels per jewelry label

    @property
    def name(self) -> str:
        return self.path.stem

    def label_map(self) -> np.ndarray:
        return np.asarray(Image.open(self.labels))


def read_people(root: Path) -> list[Person]:
    folder = root / "people-parsing"
    if not (folder / "manifest.csv").is_file():
        return []
    out = []
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            jewelry = {k: int(r.get(f"px_{'earrings' if k == 'earring' else k}") or 0) for k in PP_JEWELRY}
            out.append(Person(folder / r["path"], folder / r["label_path"], jewelry))
    return sorted(out, key=lambda p: p.name)


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The box (x0, y0, x1, y1, normalised 0-1) of a mask's pixels; None when it has none."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    return (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    import cv2

    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    return lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def worn_people_samples(people: list[Person], min_pixels: int = 40) -> list[Sample]:
    """Crops around the jewelry people-parsing marks (one per type present in a photo)."""
    out = []
    for p in people:
        for label, pixels in p.jewelry.items():
            if pixels < min_pixels:
                continue

            def make(rng, p=p, label=label):
                mask = _largest_component(p.label_map() == PP_JEWELRY[label])
                return _view(_open(p.path), mask_box(mask), rng)

            out.append(Sample(f"pp:{p.name}:{label}", label, ("people-parsing",), f"pp:{p.name}", "worn", make))
    return out


@dataclass(frozen=True)
class BodyParts:
    """Where jewelry is worn, in pixels, from a label map (None where not found)."""

    face: tuple[int, int, int, int] | None  # x0, y0, x1, y1 of the topmost large skin blob
    hands: tuple[tuple[int, int, float], ...]  # (x, y, direction angle) at the far end of each arm blob


def body_parts(labels: np.ndarray) -> BodyParts:
    import cv2

    skin = (labels == PP_SKIN).astype(np.uint8)
    n, lab, stats, cents = cv2.connectedComponentsWithStats(skin, connectivity=8)
    blobs = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= 150]
    if not blobs:
        return BodyParts(None, ())
    face_k = min(blobs, key=lambda k: stats[k, cv2.CC_STAT_TOP])
    x, y, w, h = (int(v) for v in stats[face_k, :4])
    face = (x, y, x + w, y + min(h, int(1.3 * w)))  # a face blob may run into the neck and chest
    hands = []
    H = labels.shape[0]
    for k in blobs:
        if k == face_k:
            continue
        ys, xs = np.nonzero(lab == k)
        far = int(np.argmax(ys))  # arms hang down: the hand is the lowest end
        if not (face[3] < ys[far] < 0.62 * H):  # below the face, above the knees (not a leg)
            continue
        cx, cy = float(cents[k][0]), float(cents[k][1])
        hands.append((int(xs[far]), int(ys[far]), float(np.arctan2(ys[far] - cy, xs[far] - cx))))
    return BodyParts(face, tuple(hands))


def negative_samples(people: list[Person], per_person: int = 1) -> list[Sample]:
    """``none``: crops around a face, neck or hand of people wearing no marked jewelry."""
    out = []
    for p in people:
        if any(p.jewelry.values()):
            continue
        for j in range(per_person):
            def make(rng, p=p):
                img = _open(p.path)
                parts = body_parts(p.label_map())
                W, H = img.size
                spots = []
                if parts.face:  # the face and the neck; not the ears, where unmarked earrings hang
                    x0, y0, x1, y1 = parts.face
                    spots += [((x0 + x1) / 2, (y0 + y1) / 2), ((x0 + x1) / 2, y1 + 0.3 * (y1 - y0))]
                spots += [(x, y) for x, y, _ in parts.hands]
                if not spots:
                    spots = [(W / 2, H / 3)]
                x, y = spots[int(rng.integers(len(spots)))]
                s = rng.uniform(0.02, 0.1) * H
                box = ((x - s / 2) / W, (y - s / 2) / H, (x + s / 2) / W, (y + s / 2) / H)
                if rng.random() < 0.15:
                    return img  # the whole photo: a person, no jewelry to see
                return _view(img, box, rng)

            out.append(Sample(f"neg:{p.name}:{j}", NONE, ("people-parsing",), f"pp:{p.name}", "negative", make))
    return out


# ---------------------------------------------------------------------------------------
# composites
# ---------------------------------------------------------------------------------------
@dataclass
class Cutout:
    key: str
    label: str
    source: str
    group: str
    path: Path

    def rgba(self, max_side: int = 220) -> np.ndarray | None:
        return cutout_packshot(load_rgb(str(self.path)), max_side=max_side)


def cutouts(samples: list[Sample], root: Path) -> list[Cutout]:
    """Catalogue packshots that can be cut out (plain background); checked lazily."""
    out = []
    for s in samples:
        if s.kind != "packshot" or s.label not in ("earring", "necklace", "bracelet", "watch", "ring"):
            continue
        prefix, _, rel = s.key.partition(":")
        folder = root / ("jewelry-types" if prefix == "jt" else "pcjeweller")
        out.append(Cutout(s.key, s.label, s.source, s.group, folder / rel))
    return out


def worn_place(label: str, parts: BodyParts, size: tuple[int, int], rng: np.random.Generator):
    """(centre x, centre y, long side px) where a piece of ``label`` is worn, or None."""
    W, H = size
    if label in ("earring", "necklace"):
        if parts.face is None:
            return None
        x0, y0, x1, y1 = parts.face
        fw, fh = x1 - x0, y1 - y0
        if fw < 12:
            return None
        if label == "earring":
            side = x0 if rng.random() < 0.5 else x1
            return side + rng.uniform(-0.05, 0.05) * fw, y0 + rng.uniform(0.55, 0.8) * fh, rng.uniform(0.25, 0.6) * fw
        return (x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * fw, y1 + rng.uniform(0.2, 0.6) * fh, rng.uniform(0.9, 1.8) * fw
    if not parts.hands:
        return None
    x, y, angle = parts.hands[int(rng.integers(len(parts.hands)))]
    face_w = (parts.face[2] - parts.face[0]) if parts.face else 0.08 * W
    back = {"bracelet": (0.25, 0.5), "watch": (0.25, 0.5), "ring": (0.0, 0.12)}[label]
    d = rng.uniform(*back) * face_w * 1.5
    cx, cy = x - d * np.cos(angle), y - d * np.sin(angle)
    scale = {"bracelet": (0.45, 0.9), "watch": (0.45, 0.9), "ring": (0.12, 0.3)}[label]
    return cx, cy, rng.uniform(*scale) * face_w


def place_piece(label: str, parts: BodyParts, size: tuple[int, int], rng: np.random.Generator):
    """Where a piece of ``label`` is worn (:func:`worn_place`), or, where the body part is not found,
    somewhere in the middle of the photo at a plausible size: (centre x, centre y, long side px)."""
    place = worn_place(label, parts, size, rng)
    if place is None:
        W, H = size
        place = (rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H, rng.uniform(0.05, 0.12) * H)
    return place


def paste(img: Image.Image, rgba: np.ndarray, cx: float, cy: float, long_side: float,
          rng: np.random.Generator, max_rotation: float = 35.0,
          occlude: bool = True) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """Paste a cut-out (rotated, rescaled, relit, partly occluded) centred at (cx, cy); returns its box."""
    piece = Image.fromarray(rgba, "RGBA")
    piece = piece.rotate(float(rng.uniform(-max_rotation, max_rotation)), resample=Image.Resampling.BICUBIC,
                         expand=True)
    scale = max(long_side, 6) / max(piece.size)
    piece = piece.resize((max(2, round(piece.width * scale)), max(2, round(piece.height * scale))),
                         Image.Resampling.LANCZOS)
    rgb, alpha = piece.convert("RGB"), piece.getchannel("A")
    rgb = ImageEnhance.Brightness(rgb).enhance(float(rng.uniform(0.7, 1.15)))
    if occlude and rng.random() < 0.3:  # part of it behind hair, a collar or a sleeve
        a = np.asarray(alpha).copy()
        cut = int(rng.uniform(0.2, 0.45) * a.shape[0])
        if rng.random() < 0.5:
            a[:cut] = 0
        else:
            a[-cut:] = 0
        alpha = Image.fromarray(a)
    x0, y0 = int(round(cx - piece.width / 2)), int(round(cy - piece.height / 2))
    out = img.copy()
    out.paste(rgb, (x0, y0), alpha)
    ys, xs = np.nonzero(np.asarray(alpha) > 64)
    W, H = img.size
    if len(xs) == 0:
        return out, (x0 / W, y0 / H, (x0 + piece.width) / W, (y0 + piece.height) / H)
    box = ((x0 + xs.min()) / W, (y0 + ys.min()) / H, (x0 + xs.max() + 1) / W, (y0 + ys.max() + 1) / H)
    return out, tuple(float(np.clip(v, 0, 1)) for v in box)


def _draws(by_label: dict[str, list[Cutout]], hosts: list, n: int, rng: np.random.Generator):
    """``n`` (index, label, cut-out, host) draws, labels taking turns (none without hosts)."""
    labels = sorted(lab for lab, cuts in by_label.items() if cuts)
    if not hosts or not labels:
        return
    for i in range(n):
        label = labels[i % len(labels)]
        cut = by_label[label][int(rng.integers(len(by_label[label])))]
        yield i, label, cut, hosts[int(rng.integers(len(hosts)))]


def _cut_or_drop(cut: Cutout) -> np.ndarray:
    rgba = cut.rgba()
    if rgba is None:
        raise ValueError(f"{cut.path} cannot be cut out")  # the sample is dropped
    return rgba


def _pasted_view(img: Image.Image, rgba: np.ndarray, place: tuple, rng: np.random.Generator,
                 **paste_options) -> Image.Image:
    """The cut-out pasted at ``place`` (sometimes the whole blurred a little), viewed as the pipeline crops it."""
    img, box = paste(img, rgba, *place, rng, **paste_options)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    return _view(img, box, rng)


def composite_samples(cuts: list[Cutout], people: list[Person], n: int, seed: int = 0) -> list[Sample]:
    """``n`` composites, balanced over types, each a piece on a person wearing none of its type."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[Cutout]] = {}
    for c in cuts:
        by_label.setdefault(c.label, []).append(c)
    hosts = [p for p in people if not any(p.jewelry.values())]
    out = []
    for i, label, cut, host in _draws(by_label, hosts, n, rng):

        def make(rng, cut=cut, host=host, label=label):
            rgba = _cut_or_drop(cut)
            img = _open(host.path)
            place = place_piece(label, body_parts(host.label_map()), img.size, rng)
            return _pasted_view(img, rgba, place, rng)

        key = f"comp:{i}:{cut.key}:{host.name}"
        out.append(Sample(key, label, (cut.source, "people-parsing"), f"comp:{cut.group}", "composite", make,
                          host=f"pp:{host.name}"))
    return out


# ---------------------------------------------------------------------------------------
# composites on ring-hands: wristwear on the hands whose rings teach "ring"
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wrist:
    """Where an arm enters a hand photo: the middle of the skin along that border (pixels),
    the direction into the photo (radians, image coordinates) and the arm's width there."""

    x: float
    y: float
    angle: float
    width: float


def find_wrist(img: Image.Image, work: int = 200, min_share: float = 0.05) -> Wrist | None:
    """The wrist of a hand photographed on a plain background (ring-hands), or None.

    The hand is what differs from the border's colour; the arm enters where the hand's
    largest part touches the border most. None when nothing touches a border enough.
    """
    import cv2

    rgb = img.convert("RGB")
    scale = work / max(rgb.size)
    small = np.asarray(rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                                  Image.Resampling.BILINEAR), dtype=np.float32)
    h, w = small.shape[:2]
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    bg = np.median(border, axis=0)
    hand = np.linalg.norm(small - bg, axis=2) > 45
    hand = cv2.morphologyEx(hand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    hand = _largest_component(hand)
    if hand.sum() < 0.02 * h * w:
        return None
    sides = {"top": hand[1], "bottom": hand[-2], "left": hand[:, 1], "right": hand[:, -2]}
    side = max(sides, key=lambda k: int(sides[k].sum()))
    line = sides[side]
    if line.sum() < min_share * len(line):
        return None
    pos = np.nonzero(line)[0]
    runs = np.split(pos, np.nonzero(np.diff(pos) > 2)[0] + 1)  # the widest stretch of skin on that border
    run = max(runs, key=len)
    mid, width = float(run.mean()), float(run[-1] - run[0] + 1)
    x, y = {"top": (mid, 0.0), "bottom": (mid, h - 1.0), "left": (0.0, mid), "right": (w - 1.0, mid)}[side]
    ys, xs = np.nonzero(hand)
    angle = float(np.arctan2(ys.mean() - y, xs.mean() - x))  # toward the hand's middle
    return Wrist(x / scale, y / scale, angle, width / scale)


def _on_wrist(rgba: np.ndarray, label: str, wrist: Wrist, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """The cut-out turned to lie across the arm (a bracelet also squashed into the band it
    makes seen from above), and (centre x, centre y, long side) a little up the arm."""
    piece = Image.fromarray(rgba, "RGBA")
    degrees = float(np.degrees(wrist.angle))
    if label == "bracelet":  # a bangle or chain seen from the top is a ring; on an arm, a band
        piece = piece.resize((piece.width, max(2, round(piece.height * rng.uniform(0.3, 0.7)))),
                             Image.Resampling.LANCZOS)
        if piece.width < piece.height:
            piece = piece.rotate(90, expand=True)
        piece = piece.rotate(-(degrees + 90), resample=Image.Resampling.BICUBIC, expand=True)
    else:  # a watch's strap (its photo's long axis) runs round the arm
        if piece.width > piece.height:
            piece = piece.rotate(90, expand=True)
        piece = piece.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=True)
    d = rng.uniform(-0.05, 0.3) * wrist.width  # at the border or a little up the arm
    cx, cy = wrist.x + d * np.cos(wrist.angle), wrist.y + d * np.sin(wrist.angle)
    return np.asarray(piece), (cx, cy, rng.uniform(0.9, 1.4) * wrist.width)


def hand_composite_samples(cuts: list[Cutout], hands: list, n: int, seed: int = 0) -> list[Sample]:
    """``n`` composites of bracelets (and watches, where a watch photo can be cut out: none of
    ours can) worn on the wrists of ring-hands photos.

    Those 1,300 photos teach the head "a ring on a hand"; without wristwear on the same
    hands, skin at that scale comes to mean "ring" (issue 9: worn bracelets called rings).
    ``hands`` are ring-hands rows (the detector's training sessions only). Their sources are
    the piece's shop *and* ``ring-hands``, so leaving either out leaves them out.
    """
    rng = np.random.default_rng(seed + 7919)
    by_label = {lab: [c for c in cuts if c.label == lab] for lab in ("bracelet", "watch")}
    out = []
    for i, label, cut, host in _draws(by_label, hands, n, rng):

        def make(rng, cut=cut, host=host, label=label):
            rgba = _cut_or_drop(cut)
            img = _open(Path(host.path))
            wrist = find_wrist(img)
            if wrist is None:
                raise ValueError(f"no wrist found in {host.path}")  # the sample is dropped
            turned, place = _on_wrist(rgba, label, wrist, rng)
            return _pasted_view(img, turned, place, rng, max_rotation=15.0, occlude=False)

        key = f"hcomp:{i}:{cut.key}:{host.name}"
        out.append(Sample(key, label, (cut.source, "ring-hands"), f"comp:{cut.group}", "composite", make,
                          host=f"rh:{host.session}"))
    return out


def blank_samples(n: int = 150) -> list[Sample]:
    """``none``: photos of nothing (a plain colour, a gradient, noise, a blurred texture): a
    shopper's accidental upload must get no confident type."""

    def make(rng, i):
        w, h = int(rng.integers(64, 640)), int(rng.integers(64, 640))
        kind = i % 4
        if kind == 0:
            arr = np.broadcast_to(rng.uniform(0, 255, 3), (h, w, 3))
        elif kind == 1:
            ramp = np.linspace(0, 1, w)[None, :, None]
            arr = rng.uniform(0, 255, 3) * (1 - ramp) + rng.uniform(0, 255, 3) * ramp
            arr = np.broadcast_to(arr, (h, w, 3))
        elif kind == 2:
            arr = rng.normal(rng.uniform(40, 215), rng.uniform(5, 60), (h, w, 3))
        else:
            small = rng.uniform(0, 255, (max(2, h // 32), max(2, w // 32), 3)).astype(np.uint8)
            return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))

    return [Sample(f"blank:{i}", NONE, ("blank",), f"blank:{i}", "negative", lambda rng, i=i: make(rng, i))
            for i in range(n)]


def all_samples(root: Path, *, composites: int = 2000, ring_hands: int = 700, hand_composites: int = 0,
                seed: int = 0) -> list[Sample]:
    """Every sample of every source found under ``root`` (composites use cut-able packshots only)."""
    cat = catalogue_samples(root)
    people = read_people(root)
    cut_ok = []
    for c in cutouts(cat, root):
        digest = int(hashlib.sha256(c.key.encode()).hexdigest()[:8], 16)
        if digest % 2 == 0 or c.label != "earring":  # earrings are plentiful: half of them will do
            cut_ok.append(c)
    cuttable = _cuttable(cut_ok)
    return (cat + ring_hand_samples(root, ring_hands, seed) + worn_people_samples(people)
            + negative_samples(people) + blank_samples()
            + composite_samples(cuttable, people, composites, seed)
            + hand_composite_samples(cuttable, _hand_hosts(root) if hand_composites else [], hand_composites, seed))


def _hand_hosts(root: Path) -> list:
    """ring-hands rows of the detector's training sessions (its held-out sessions stay unseen)."""
    if not (root / "ring-hands" / "manifest.csv").is_file():
        return []
    train, _ = split_ring_hands(read_ring_hands(root), seed=0)
    return [r for r in train if r.boxes and not r.flagged]


def _cuttable(cuts: list[Cutout]) -> list[Cutout]:
    """Cut-outs whose photo has a plain background (the cut-out succeeds)."""
    ok = []
    for c in cuts:
        try:
            if c.rgba() is not None:
                ok.append(c)
        except Exception:  # noqa: BLE001 - an unreadable photo is just not used
            pass
    return ok


def photometric(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Strong photometric augmentation: white balance / colour temperature, exposure, blur, JPEG."""
    import io

    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    temp = rng.uniform(-0.18, 0.18)  # warm (+) / cool (-) light
    gains = np.array([1 + temp, 1.0, 1 - temp]) * rng.uniform(0.92, 1.08, 3)
    arr = arr * gains * rng.uniform(0.65, 1.35)  # exposure
    arr = 255.0 * np.clip(arr / 255.0, 0, 1) ** rng.uniform(0.75, 1.35)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.5))))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=int(rng.integers(35, 90)))
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out


def swap_background(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A packshot's plain background replaced by another plain colour or a soft gradient."""
    rgba = cutout_packshot(np.asarray(img.convert("RGB")), max_side=max(img.size))
    if rgba is None:
        return img
    h, w = rgba.shape[:2]
    W, H = img.size
    top, bottom = rng.uniform(120, 255, 3), rng.uniform(90, 255, 3)
    if rng.random() < 0.3:
        top = bottom = rng.uniform(0, 60, 3)  # dark velvet
    ramp = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    bg = Image.fromarray((top * (1 - ramp) + bottom * ramp).repeat(W, 1).astype(np.uint8))
    piece = Image.fromarray(rgba, "RGBA")
    x0, y0 = int(rng.integers(0, max(1, W - w + 1))), int(rng.integers(0, max(1, H - h + 1)))
    bg.paste(piece.convert("RGB"), (x0, y0), piece.getchannel("A"))
    return bg


def border_colour(img: Image.Image) -> tuple[int, int, int]:
    """The median colour of a photo's outermost pixels: a packshot's background."""
    arr = np.asarray(img.convert("RGB"))
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0))  # type: ignore[return-value]


def zoom_out(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The packshot as a shop that stands further back frames it: on a larger canvas of its own
    border colour (1.2-2.6x, aspect 3:4 to 16:9), the piece off-centre. A ring seen side-on,
    small in a wide white frame, is then not a new sight."""
    w, h = img.size
    colour = border_colour(img)
    scale, aspect = rng.uniform(1.2, 2.6), float(np.exp(rng.uniform(np.log(0.75), np.log(16 / 9))))
    side = scale * np.sqrt(w * h)
    width, height = max(w, round(side * np.sqrt(aspect))), max(h, round(side / np.sqrt(aspect)))
    canvas = Image.new("RGB", (width, height), colour)
    canvas.paste(img.convert("RGB"), (int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))))
    return canvas


def flatten(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The packshot as a camera nearer the table sees it: squashed to 0.45-0.85 of its height
    on a canvas of its own size and border colour. A ring shown front-on at eye level (a flat
    ellipse, wider than tall, like a bracelet's photo) is then not a new sight."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    colour = border_colour(rgb)
    factor = float(np.exp(rng.uniform(np.log(0.45), np.log(0.85))))
    squashed = rgb.resize((w, max(1, round(h * factor))), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (w, h), colour)
    canvas.paste(squashed, (0, int(rng.integers(0, h - squashed.size[1] + 1))))
    return canvas


@dataclass(frozen=True)
class PackshotGeometry:
    """Extra geometry for packshot training copies, as probabilities (0: off, the shipped recipe).

    ``zoom_out``: :func:`zoom_out` (0.5 tried on 2026-12-05, not shipped); ``flatten``:
    :func:`flatten` (0.5 and 1.0 tried on 2026-12-05, not shipped; see MODEL_CARD.md).
    """

    zoom_out: float = 0.0
    flatten: float = 0.0

    def __post_init__(self) -> None:
        for name in ("zoom_out", "flatten"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)}")

    @property
    def key(self) -> str:
        """What this geometry adds to a packshot recipe's cache key ('' when off)."""
        parts = [f"zoom{self.zoom_out:g}" if self.zoom_out else "", f"flat{self.flatten:g}" if self.flatten else ""]
        return "+".join(p for p in parts if p)


def augment_sample(sample: Sample, img: Image.Image, rng: np.random.Generator,
                   geometry: PackshotGeometry = PackshotGeometry()) -> Image.Image:
    """Training copy: for packshots the extra geometry of ``geometry`` (off in the shipped
    recipe, see MODEL_CARD.md) and a background swap; geometry (flip, crop) from
    ``common.augment``; then the strong photometric changes."""
    if sample.kind == "packshot":
        if geometry.zoom_out > 0 and rng.random() < geometry.zoom_out:
            img = zoom_out(img, rng)
        if geometry.flatten > 0 and rng.random() < geometry.flatten:
            img = flatten(img, rng)
    if sample.kind == "packshot" and rng.random() < 0.4:
        img = swap_background(img, rng)
    img = augment(img, rng, AugmentSpec(brightness=0.0, contrast=0.2, saturation=0.3, hue=0.02))
    return photometric(img, rng)
