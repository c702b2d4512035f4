"""Training crops for the jewelry detector, composited from the cached ring-hands photos.

:class:`SampleMaker` warps (scale, rotation, flip, crop) a hand photo and its ring mask in one
affine step, pastes packshot cut-outs (:func:`.data.load_cutouts`) onto hands, pastes a second
ring touching the first ("pair" samples) and jitters the colours; each crop comes with its mask
and a centre heatmap. Nothing here imports Django or torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .data import RingHandsCache

__all__ = ["SampleConfig", "SampleMaker"]


@dataclass
class SampleConfig:
    """How :class:`SampleMaker` draws crops (shares of each kind, scales, rotations)."""

    size: int = 112  # training crop side
    p_fine: float = 0.45  # share of "refinement" samples (object-centred, near full resolution)
    coarse_scale: tuple[float, float] = (0.30, 0.58)  # coarse samples: scale relative to the original photo
    fine_object_px: tuple[float, float] = (40.0, 76.0)  # fine samples: the object's long side in the crop (px)
    p_coarse_on_object: float = 0.75
    p_paste: float = 0.3  # paste a packshot cut-out into a coarse sample
    p_fine_paste: float = 0.15  # a fine sample centred on a pasted cut-out instead of the hand's object
    p_fine_negative: float = 0.12  # a fine sample at a random place (no object in the middle)
    p_fine_pair: float = 0.0  # a fine sample of the boxed ring with a second ring pasted touching it
    max_rotation: float = 30.0
    p_rot90: float = 0.25
    p_hard: float = 0.25  # a crop centred on a mined hard negative (when there are any)
    centre_sigma: float = 0.1  # centre heatmap: Gaussian sigma as a fraction of the piece's long side


def _major_axis(mask: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(unit vector of the mask's major axis, extent along it, extent across it) in pixels."""
    ys, xs = np.nonzero(mask)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    pts -= pts.mean(0)
    if len(pts) < 3:
        return np.array([1.0, 0.0]), float(mask.shape[1]), float(mask.shape[0])
    _, vecs = np.linalg.eigh(pts.T @ pts)
    u = vecs[:, -1]
    along, across = pts @ u, pts @ vecs[:, 0]
    return u, float(along.max() - along.min() + 1), float(across.max() - across.min() + 1)


class SampleMaker:
    """Random training crops from the cache: image uint8 HxWx3, mask float32 HxW in [0,1], and a
    centre heatmap float32 HxW (a Gaussian peaking at 1 on every piece's box centre).

    One affine warp does scale, rotation, flip and crop. Coarse samples mimic
    the first pass (whole photo with the long side at ~384 px); fine samples
    mimic the refinement pass (the object's long side at 40-76 px; inference
    uses a 128 px crop of 1.9 x the long side, i.e. 67 px). The centre heatmap
    teaches the network where one piece ends and the next begins: "pair" samples
    paste a second ring (cut from another training photo) end to end with the
    boxed ring, as rings on neighbouring fingers touch.
    """

    def __init__(self, cache: RingHandsCache, indices: Sequence[int], cutouts: Sequence[np.ndarray] = (),
                 config: SampleConfig | None = None, seed: int = 0,
                 hard_negatives: dict[int, list[tuple[float, float, float, float]]] | None = None) -> None:
        self.cache = cache
        self.indices = np.asarray(indices)
        allowed = {int(i) for i in self.indices}
        # (cache index, full-res box) of false detections mined on the training photos
        self.hard = [(i, b) for i, bs in sorted((hard_negatives or {}).items()) if i in allowed for b in bs]
        self.rings = [int(i) for i in self.indices if cache.ring_instance[int(i)] is not None]
        self.cutouts = list(cutouts)
        self.cfg = config or SampleConfig()
        self.rng = np.random.default_rng(seed)

    # -- geometry ------------------------------------------------------------------
    def _affine(self, cx: float, cy: float, scale: float) -> np.ndarray:
        """Matrix mapping source pixels to the output crop: centre (cx, cy) -> crop centre, zoom ``scale``."""
        rng, cfg = self.rng, self.cfg
        angle = rng.uniform(-cfg.max_rotation, cfg.max_rotation)
        if rng.random() < cfg.p_rot90:
            angle += 90.0 * rng.integers(1, 4)
        a = np.deg2rad(angle)
        flip = -1.0 if rng.random() < 0.5 else 1.0
        c, s = np.cos(a) * scale, np.sin(a) * scale
        m = np.array([[c * flip, -s * flip], [s, c]], dtype=np.float64)
        half = cfg.size / 2.0
        t = np.array([half, half]) - m @ np.array([cx, cy])
        return np.hstack([m, t[:, None]])

    def _warp(self, img: np.ndarray, mask: np.ndarray, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        size = self.cfg.size
        border = cv2.BORDER_REFLECT_101 if self.rng.random() < 0.5 else cv2.BORDER_CONSTANT
        value = tuple(int(v) for v in self.rng.integers(0, 256, 3)) if self.rng.random() < 0.5 else (255, 255, 255)
        out = cv2.warpAffine(np.asarray(img), mat, (size, size), flags=cv2.INTER_LINEAR, borderMode=border,
                             borderValue=value)
        m = cv2.warpAffine(np.asarray(mask), mat, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT if border == cv2.BORDER_CONSTANT else border, borderValue=0)
        return out, m.astype(np.float32) / 255.0

    def _centres(self, i: int, mat: np.ndarray, src_scale: float = 1.0) -> list[tuple[float, float, float]]:
        """Photo ``i``'s pieces as (x, y, long side) in the crop; ``src_scale``: source px per full-res px."""
        zoom = float(np.sqrt(abs(np.linalg.det(mat[:, :2]))))
        out = []
        for x0, y0, x1, y1 in self.cache.instances[i]:
            p = mat @ np.array([(x0 + x1) / 2 * src_scale, (y0 + y1) / 2 * src_scale, 1.0])
            out.append((float(p[0]), float(p[1]), max(x1 - x0, y1 - y0) * src_scale * zoom))
        return out

    def _heatmap(self, centres: Sequence[tuple[float, float, float]]) -> np.ndarray:
        size = self.cfg.size
        heat = np.zeros((size, size), np.float32)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        for x, y, long_side in centres:
            if not (-long_side / 2 <= x < size + long_side / 2 and -long_side / 2 <= y < size + long_side / 2):
                continue
            sigma = max(1.0, self.cfg.centre_sigma * long_side)
            # the peak pixel is exactly 1 (CenterNet's focal loss counts it as the positive)
            px, py = np.clip(round(x), -1, size), np.clip(round(y), -1, size)
            g = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma * sigma))
            np.maximum(heat, g, out=heat)
        return heat

    # -- pasting ------------------------------------------------------------------
    def _paste(self, img: np.ndarray, mask: np.ndarray, long_side: float, cx: float, cy: float,
               index: int | None = None) -> None:
        """Paste cut-out ``index`` (default: one drawn at random) centred at (cx, cy) of the crop."""
        import cv2

        cut = self.cutouts[self.rng.integers(len(self.cutouts)) if index is None else index]
        h, w = cut.shape[:2]
        scale = long_side / max(h, w)
        nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
        cut = cv2.resize(cut, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        k = self.rng.integers(4)
        cut = np.rot90(cut, k)
        if self.rng.random() < 0.5:
            cut = cut[:, ::-1]
        nh, nw = cut.shape[:2]
        x0, y0 = int(round(cx - nw / 2)), int(round(cy - nh / 2))
        H, W = img.shape[:2]
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        dx1, dy1 = min(W, x0 + nw), min(H, y0 + nh)
        if dx1 <= dx0 or dy1 <= dy0:
            return
        patch = cut[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        alpha = patch[..., 3:4].astype(np.float32) / 255.0
        region = img[dy0:dy1, dx0:dx1].astype(np.float32)
        rgb = patch[..., :3].astype(np.float32) * self.rng.uniform(0.75, 1.1)
        img[dy0:dy1, dx0:dx1] = np.clip(region * (1 - alpha) + rgb * alpha, 0, 255).astype(np.uint8)
        mask[dy0:dy1, dx0:dx1] = np.maximum(mask[dy0:dy1, dx0:dx1], (alpha[..., 0] > 0.5).astype(np.float32))

    def _ring_patch(self, i: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
        """(RGB patch, bool mask, top-left) of photo ``i``'s boxed ring, at full resolution."""
        k = self.cache.ring_instance[i]
        x0, y0, x1, y1 = (int(round(v)) for v in self.cache.instances[i][k])
        m = np.asarray(self.cache.mask[i][y0:y1, x0:x1]) > 127
        if m.sum() < 20:
            return None
        return np.asarray(self.cache.img[i][y0:y1, x0:x1]), m, (x0, y0)

    def _pair_sample(self) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]] | None:
        """The boxed ring of a training photo with a second ring pasted end to end (touching) along its band."""
        import cv2

        rng, cfg = self.rng, self.cfg
        i = self.rings[rng.integers(len(self.rings))]
        j = self.rings[rng.integers(len(self.rings))]
        a, b = self._ring_patch(i), self._ring_patch(j)
        if a is None or b is None:
            return None
        (_, ma, (ax, ay)), (rgb_b, mb, _) = a, b
        u, length, across = _major_axis(ma)
        ub, length_b, _ = _major_axis(mb)
        ha, wa = ma.shape
        centre = np.array([ax + wa / 2, ay + ha / 2])
        k = length * rng.uniform(0.75, 1.3) / length_b  # the second ring's band about as long
        side = 1.0 if rng.random() < 0.5 else -1.0
        gap = rng.uniform(-0.12, 0.02) * length  # overlapping a little, or a hair apart
        dest = centre + side * u * (length / 2 + k * length_b / 2 + gap) + rng.uniform(-0.3, 0.3) * across * np.array([-u[1], u[0]])
        rot = np.arctan2(u[1], u[0]) - np.arctan2(ub[1], ub[0]) + (np.pi if rng.random() < 0.5 else 0.0)
        c, s = np.cos(rot) * k, np.sin(rot) * k
        hb, wb = mb.shape
        donor = np.array([[c, -s, 0.0], [s, c, 0.0]])
        donor[:, 2] = dest - donor[:, :2] @ np.array([wb / 2, hb / 2])
        # the crop: centred between the two rings, the pair's length at the fine scale
        mid = (centre - side * u * length / 2 + dest + side * u * k * length_b / 2) / 2
        total = length + k * length_b + gap
        mat = self._affine(float(mid[0]), float(mid[1]), rng.uniform(*cfg.fine_object_px) / max(8.0, total))
        img, mask = self._warp(self.cache.img[i], self.cache.mask[i], mat)
        full = np.vstack([mat, [0, 0, 1]]) @ np.vstack([donor, [0, 0, 1]])
        size = cfg.size
        rgb_w = cv2.warpAffine(rgb_b, full[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(mb.astype(np.float32), full[:2], (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        tint = rng.uniform(0.85, 1.1, size=3)
        img = np.clip(img * (1 - alpha) + rgb_w * tint * alpha, 0, 255).astype(np.uint8)
        mask = np.maximum(mask, (alpha[..., 0] > 0.5).astype(np.float32))
        centres = self._centres(i, mat)
        p = full @ np.array([wb / 2, hb / 2, 1.0])
        zoom = float(np.sqrt(abs(np.linalg.det(full[:2, :2]))))
        centres.append((float(p[0]), float(p[1]), max(wb, hb) * zoom))
        return img, mask, centres

    # -- photometric ------------------------------------------------------------------
    def _jitter(self, img: np.ndarray) -> np.ndarray:
        import cv2

        rng = self.rng
        x = img.astype(np.float32)
        if rng.random() < 0.8:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
            hsv[..., 1] *= rng.uniform(0.7, 1.3)
            x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        x = (x - 128) * rng.uniform(0.75, 1.25) + 128 + rng.uniform(-25, 25)
        x *= rng.uniform(0.9, 1.1, size=3)  # white balance
        if rng.random() < 0.2:
            x += rng.normal(0, rng.uniform(2, 8), size=x.shape)
        if rng.random() < 0.15:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.2))
        return np.clip(x, 0, 255).astype(np.uint8)

    # -- samples ------------------------------------------------------------------
    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        img, mask, centres = self._sample()
        return self._jitter(img), mask, self._heatmap(centres)

    def _sample(self) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
        rng, cfg, cache = self.rng, self.cfg, self.cache
        if self.hard and rng.random() < cfg.p_hard:
            i, (x0, y0, x1, y1) = self.hard[rng.integers(len(self.hard))]
            long_side = max(x1 - x0, y1 - y0, 8.0)
            cx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            cy = (y0 + y1) / 2 + rng.uniform(-0.25, 0.25) * long_side
            if rng.random() < 0.5:
                mat = self._affine(cx, cy, rng.uniform(*cfg.fine_object_px) / long_side)
                img, mask = self._warp(cache.img[i], cache.mask[i], mat)
                return img, mask, self._centres(i, mat)
            mat = self._affine(cx / 2, cy / 2, rng.uniform(*cfg.coarse_scale) * 2.0)
            img, mask = self._warp(cache.img_half[i], cache.mask_half[i], mat)
            return img, mask, self._centres(i, mat, 0.5)
        i = int(self.indices[rng.integers(len(self.indices))])
        boxes = cache.obj_boxes[i]
        x0, y0, x1, y1 = boxes[rng.integers(len(boxes))]
        H, W = cache.img.shape[1:3]
        if rng.random() < cfg.p_fine:
            if cfg.p_fine_pair > 0 and self.rings and rng.random() < cfg.p_fine_pair:
                pair = self._pair_sample()
                if pair is not None:
                    return pair
            mode = rng.random()
            if mode < cfg.p_fine_paste and self.cutouts:
                # a cut-out pasted at a random place on the hand photo, refinement-scale crop around it
                long_full = rng.uniform(30, 140)
                scale = rng.uniform(*cfg.fine_object_px) / long_full
                cx, cy = rng.uniform(0.15 * W, 0.85 * W), rng.uniform(0.15 * H, 0.85 * H)
                mat = self._affine(cx, cy, scale)
                img, mask = self._warp(cache.img[i], cache.mask[i], mat)
                centres = self._centres(i, mat)
                px, py = cfg.size / 2 + rng.normal(0, 6), cfg.size / 2 + rng.normal(0, 6)
                self._paste(img, mask, long_full * scale, px, py)
                return img, mask, centres + [(px, py, long_full * scale)]
            if mode < cfg.p_fine_paste + cfg.p_fine_negative:
                scale = rng.uniform(*cfg.fine_object_px) / rng.uniform(20, 120)
                cx, cy = rng.uniform(0.1 * W, 0.9 * W), rng.uniform(0.1 * H, 0.9 * H)
            else:
                long_side = max(x1 - x0, y1 - y0, 8.0)
                scale = rng.uniform(*cfg.fine_object_px) / long_side
                jitter = 0.25 * long_side
                cx = (x0 + x1) / 2 + rng.uniform(-jitter, jitter)
                cy = (y0 + y1) / 2 + rng.uniform(-jitter, jitter)
            mat = self._affine(cx, cy, scale)
            img, mask = self._warp(cache.img[i], cache.mask[i], mat)
            return img, mask, self._centres(i, mat)
        scale = rng.uniform(*cfg.coarse_scale) * 2.0  # relative to the half-resolution cache
        if rng.random() < cfg.p_coarse_on_object:
            cx = (x0 + x1) / 4 + rng.uniform(-0.35, 0.35) * cfg.size / scale
            cy = (y0 + y1) / 4 + rng.uniform(-0.35, 0.35) * cfg.size / scale
        else:
            cx, cy = rng.uniform(0, W / 2), rng.uniform(0, H / 2)
        mat = self._affine(cx, cy, scale)
        img, mask = self._warp(cache.img_half[i], cache.mask_half[i], mat)
        centres = self._centres(i, mat, 0.5)
        if self.cutouts and rng.random() < cfg.p_paste:
            for _ in range(int(rng.integers(1, 3))):
                long_side = rng.uniform(12, 64)
                px, py = rng.uniform(0, cfg.size), rng.uniform(0, cfg.size)
                self._paste(img, mask, long_side, px, py)
                centres.append((px, py, long_side))
        return img, mask, centres

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images uint8 [n, S, S, 3], masks float32 [n, S, S], centre heatmaps float32 [n, S, S])."""
        imgs, masks, heats = zip(*(self.sample() for _ in range(n)))
        return np.stack(imgs), np.stack(masks), np.stack(heats)
