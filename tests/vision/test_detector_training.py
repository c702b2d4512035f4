"""Training the detector: piece instances from the masks and the centre loss."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.training.data import instance_boxes


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

