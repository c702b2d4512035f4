"""Training data for the detector: piece instances, centre heatmaps and touching-ring samples."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.training.data import SampleConfig, SampleMaker, _major_axis, instance_boxes


def _mask_two_touching(h: int = 60, w: int = 100) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[25:35, 10:50] = True  # the boxed ring
    m[25:35, 50:88] = True  # a second ring touching it, merged into one component
    m[5:9, 5:9] = True  # a small stone far away
    return m


def test_instances_cut_a_group_at_the_ring_box() -> None:
    m = _mask_two_touching()
    box = (10 / 100, 25 / 60, 50 / 100, 35 / 60)
    boxes, ring = instance_boxes(m, [box])
    assert ring is not None
    x0, y0, x1, y1 = boxes[ring]
    assert (y0, y1) == (25, 35) and x0 == 10 and 50 <= x1 <= 57  # the boxed ring (the box grown by 10 % + 2 px)
    others = [b for k, b in enumerate(boxes) if k != ring]
    assert any(b[0] >= 50 and b[2] == 88 for b in others)  # the touching ring on its own
    assert any(b[:2] == (5, 5) for b in others)  # the far stone
    # without a ring box the touching pair is one group
    boxes_any, ring_any = instance_boxes(m, [])
    assert ring_any is None and len(boxes_any) == 2
    # a box around the whole group (one ring) does not cut it
    whole, k = instance_boxes(m, [(10 / 100, 25 / 60, 88 / 100, 35 / 60)])
    assert len(whole) == 2 and whole[k] == (10, 25, 88, 35)
    # coordinates scale (the cache computes them on half-resolution masks)
    scaled, _ = instance_boxes(m, [], scale=2.0)
    assert sorted(scaled)[0] == (10, 10, 18, 18)


def test_major_axis_of_a_band() -> None:
    m = np.zeros((50, 50), bool)
    m[20:26, 5:45] = True
    u, along, across = _major_axis(m)
    assert abs(abs(u[0]) - 1) < 1e-6 and along == 40 and across == 6


class _Cache:
    """A tiny in-memory stand-in with the RingHandsCache fields SampleMaker reads."""

    def __init__(self, n: int = 3, h: int = 120, w: int = 160) -> None:
        rng = np.random.default_rng(0)
        self.img = np.full((n, h, w, 3), 200, np.uint8) + rng.integers(0, 20, (n, h, w, 3), dtype=np.uint8)
        self.mask = np.zeros((n, h, w), np.uint8)
        self.obj_boxes, self.ring_instance = [], []
        for i in range(n):
            x0 = 40 + 10 * i
            self.img[i, 50:62, x0 : x0 + 40] = (230, 190, 60)
            self.mask[i, 50:62, x0 : x0 + 40] = 255
            self.obj_boxes.append([(float(x0), 50.0, float(x0 + 40), 62.0)])
            self.instances = self.obj_boxes
            self.ring_instance.append(0)
        self.img_half = self.img[:, ::2, ::2].copy()
        self.mask_half = self.mask[:, ::2, ::2].copy()


def test_samples_carry_a_centre_heatmap_peaking_on_each_piece() -> None:
    cache = _Cache()
    maker = SampleMaker(cache, [0, 1, 2], config=SampleConfig(size=64), seed=3)
    imgs, masks, heats = maker.batch(12)
    assert imgs.shape == (12, 64, 64, 3) and imgs.dtype == np.uint8
    assert masks.shape == heats.shape == (12, 64, 64) and heats.dtype == np.float32
    assert heats.min() >= 0 and heats.max() <= 1
    for m, h in zip(masks, heats):
        if m.sum() > 50 and h.max() == 1.0:  # a piece in view: its centre peak lies on or by the mask
            py, px = np.unravel_index(h.argmax(), h.shape)
            near = m[max(0, py - 3) : py + 4, max(0, px - 3) : px + 4]
            assert near.max() > 0.5


def test_pair_samples_paste_a_second_ring_end_to_end() -> None:
    cache = _Cache()
    maker = SampleMaker(cache, [0, 1, 2], config=SampleConfig(size=96), seed=5)
    done = 0
    for _ in range(10):
        out = maker._pair_sample()
        if out is None:
            continue
        img, mask, centres = out
        assert len(centres) == 2  # the boxed ring and the pasted one
        (xa, ya, la), (xb, yb, lb) = centres
        dist = np.hypot(xa - xb, ya - yb)
        assert 0.5 * min(la, lb) < dist < 1.2 * (la + lb)  # touching: about one band length apart
        # both centres sit on the (joint) mask
        for x, y, _ in centres:
            xi, yi = int(round(x)), int(round(y))
            if 0 <= xi < 96 and 0 <= yi < 96:
                assert mask[max(0, yi - 2) : yi + 3, max(0, xi - 2) : xi + 3].max() > 0.5
        done += 1
    assert done >= 8


def test_centre_focal_loss() -> None:
    torch = pytest.importorskip("torch")
    from jewel_vision.training.train_detector import centre_focal_loss

    target = torch.zeros(1, 1, 16, 16)
    target[0, 0, 8, 8] = 1.0
    good = torch.full_like(target, -6.0)
    good[0, 0, 8, 8] = 6.0
    bad = -good
    assert centre_focal_loss(good, target) < 0.01 < centre_focal_loss(bad, target)
    assert float(centre_focal_loss(good, torch.zeros_like(target))) >= 0  # no piece in view: negatives only

