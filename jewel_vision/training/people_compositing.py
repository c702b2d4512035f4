"""Training crops for the jewelry detector from street photos of people (``people-parsing``).

The shipped detector learnt jewelry on hands on plain backgrounds; on a street photo it
finds a tenth of the pieces and fires on shoes and bags (``benchmarks/detector_people.py``).
:class:`PeopleSampleMaker` draws crops like :class:`.compositing.SampleMaker`'s, from
people-parsing photos, whose label maps mark every jewelry pixel:

* the real jewelry of people wearing some (its mask comes free);
* catalogue cut-outs pasted where their type is worn (``type_sources.place_piece``: earrings
  beside the face, necklaces below it, bracelets and watches on the forearm, rings at the
  hand) on people wearing none, the pasted pixels the mask;
* hard negatives: crops centred on what a detector found on these photos off any jewelry.

People are split by name (:func:`people_split`) so that the detector's figure on street photos
is read on people it never trained on. Nothing here imports Django or torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .compositing import SampleConfig, SampleMaker
from .type_sources import PP_JEWELRY, BodyParts, Person, body_parts, place_piece

__all__ = ["PeopleCache", "PeopleSampleMaker", "MixedMaker", "people_split"]

#: Long side the photos are held at (the detector's coarse pass sees 384 px).
WORK_SIDE = 640
COARSE_SIDE = 384


def people_split(name: str, test_share: float = 0.5) -> str:
    """"train" or "test" for a person of people-parsing, stable across runs and machines."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "train"


@dataclass
class _Photo:
    img: np.ndarray  # H x W x 3 uint8 at WORK_SIDE
    mask: np.ndarray  # H x W uint8, 255 on marked jewelry
    parts: BodyParts
    instances: list[tuple[float, float, float, float]]  # boxes (pixels) of the jewelry's parts


class PeopleCache:
    """people-parsing photos decoded at :data:`WORK_SIDE`, with their jewelry masks and body parts."""

    def __init__(self, people: Sequence[Person], min_pixels: int = 20) -> None:
        import cv2

        self.photos: list[_Photo] = []
        for p in people:
            img = Image.open(p.path).convert("RGB")
            labels = p.label_map()
            scale = WORK_SIDE / max(img.size)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            arr = np.asarray(img.resize(size, Image.Resampling.BILINEAR))
            lab = np.asarray(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))
            mask = np.isin(lab, list(PP_JEWELRY.values())).astype(np.uint8) * 255
            n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
            boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h, area in stats[1:n]
                     if area >= min_pixels]
            self.photos.append(_Photo(arr, mask, body_parts(lab), boxes))

    def __len__(self) -> int:
        return len(self.photos)


class PeopleSampleMaker(SampleMaker):
    """Crops from :class:`PeopleCache` photos, as :class:`SampleMaker` draws them from ring-hands.

    ``hard_negatives``: {photo index: [boxes in WORK_SIDE pixels]} of false detections.
    Shares of the kinds of crop: ``p_hard`` hard negatives, ``p_pasted`` a cut-out worn by
    someone wearing none of it, ``p_real`` someone's own jewelry, the rest anywhere on a photo.
    """

    def __init__(self, cache: PeopleCache, cutouts: Sequence[np.ndarray], cut_types: Sequence[str],
                 config: SampleConfig | None = None, seed: int = 0,
                 hard_negatives: dict[int, list[tuple[float, float, float, float]]] | None = None,
                 p_hard: float = 0.25, p_pasted: float = 0.3, p_real: float = 0.25) -> None:
        self.people = cache
        self.cutouts = list(cutouts)
        self.cut_types = list(cut_types)
        self.cfg = config or SampleConfig()
        self.rng = np.random.default_rng(seed)
        self.hard = [(i, b) for i, bs in sorted((hard_negatives or {}).items()) for b in bs]
        self.wearing = [i for i, ph in enumerate(cache.photos) if ph.instances]
        self.bare = [i for i, ph in enumerate(cache.photos) if not ph.instances]
        self.shares = (p_hard, p_pasted, p_real)

    def _centres_of(self, i: int, mat: np.ndarray) -> list[tuple[float, float, float]]:
        zoom = float(np.sqrt(abs(np.linalg.det(mat[:, :2]))))
        out = []
        for x0, y0, x1, y1 in self.people.photos[i].instances:
            p = mat @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
            out.append((float(p[0]), float(p[1]), max(x1 - x0, y1 - y0) * zoom))
        return out

    def _scale(self, long_side: float, fine: bool) -> float:
        """Fine: the piece at the refinement pass's size; coarse: the photo at the coarse pass's."""
        if fine:
            return self.rng.uniform(*self.cfg.fine_object_px) / max(long_side, 8.0)
        return COARSE_SIDE / WORK_SIDE * self.rng.uniform(0.75, 1.3)

    def _crop(self, i: int, cx: float, cy: float, scale: float):
        mat = self._affine(cx, cy, scale)
        ph = self.people.photos[i]
        img, mask = self._warp(ph.img, ph.mask, mat)
        return img, mask, mat

    def _sample(self) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
        rng = self.rng
        p_hard, p_pasted, p_real = self.shares
        r = rng.random()
        fine = rng.random() < self.cfg.p_fine
        if r < p_hard and self.hard:
            i, (x0, y0, x1, y1) = self.hard[rng.integers(len(self.hard))]
            long_side = max(x1 - x0, y1 - y0, 8.0)
            cx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            cy = (y0 + y1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            img, mask, mat = self._crop(i, cx, cy, self._scale(long_side, fine))
            return img, mask, self._centres_of(i, mat)
        if r < p_hard + p_pasted and self.bare and self.cutouts:
            i = self.bare[rng.integers(len(self.bare))]
            k = int(rng.integers(len(self.cutouts)))
            ph = self.people.photos[i]
            h, w = ph.mask.shape
            cx, cy, long_side = place_piece(self.cut_types[k], ph.parts, (w, h), rng)
            img, mask, mat = self._crop(i, cx + rng.normal(0, 0.1 * long_side), cy + rng.normal(0, 0.1 * long_side),
                                        self._scale(long_side, fine))
            p = mat @ np.array([cx, cy, 1.0])
            zoom = float(np.sqrt(abs(np.linalg.det(mat[:, :2]))))
            self._paste(img, mask, long_side * zoom, float(p[0]), float(p[1]), index=k)
            return img, mask, [(float(p[0]), float(p[1]), long_side * zoom)]
        if r < p_hard + p_pasted + p_real and self.wearing:
            i = self.wearing[rng.integers(len(self.wearing))]
            x0, y0, x1, y1 = self.people.photos[i].instances[rng.integers(len(self.people.photos[i].instances))]
            long_side = max(x1 - x0, y1 - y0, 8.0)
            cx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            cy = (y0 + y1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            img, mask, mat = self._crop(i, cx, cy, self._scale(long_side, fine))
            return img, mask, self._centres_of(i, mat)
        i = int(rng.integers(len(self.people)))
        h, w = self.people.photos[i].mask.shape
        img, mask, mat = self._crop(i, rng.uniform(0, w), rng.uniform(0, h), self._scale(rng.uniform(20, 120), fine))
        return img, mask, self._centres_of(i, mat)


class MixedMaker:
    """Batches drawn from several makers, each sample from maker k with probability ``shares[k]``."""

    def __init__(self, makers: Sequence[SampleMaker], shares: Sequence[float], seed: int = 0) -> None:
        self.makers = list(makers)
        self.shares = np.asarray(shares, np.float64) / float(np.sum(shares))
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        picks = self.rng.choice(len(self.makers), size=n, p=self.shares)
        imgs, masks, heats = zip(*(self.makers[k].sample() for k in picks))
        return np.stack(imgs), np.stack(masks), np.stack(heats)
