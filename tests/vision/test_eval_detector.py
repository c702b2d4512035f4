"""The detector's evaluation: AP with detections that may be left out, and a missing ground truth."""

from __future__ import annotations

import math

import pytest

from jewel_vision.training.eval_detector import average_precision

RING = (0.1, 0.1, 0.3, 0.3)
ELSEWHERE = (0.6, 0.6, 0.9, 0.9)


def test_an_ignorable_false_positive_is_left_out_of_the_ap():
    gts = {0: [RING]}
    assert average_precision([(0.9, 0, RING)], gts) == pytest.approx(1.0)
    # a confident detection of something unlabelled (another piece of jewelry): counted, it halves precision
    assert average_precision([(0.95, 0, ELSEWHERE), (0.9, 0, RING)], gts) == pytest.approx(0.5)
    # marked ignorable (an unlabelled piece is visible), it is left out
    assert average_precision([(0.95, 0, ELSEWHERE, True), (0.9, 0, RING)], gts) == pytest.approx(1.0)


def test_a_box_matches_one_ring_once_and_no_truth_gives_nan():
    gts = {0: [RING]}
    assert average_precision([(0.9, 0, RING), (0.8, 0, RING)], gts) == pytest.approx(1.0)  # the second is a miss after the hit
    assert math.isnan(average_precision([(0.9, 0, RING)], {0: []}))
