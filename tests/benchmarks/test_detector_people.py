"""benchmarks/detector_people.py: what counts as finding a marked piece (drawn label maps, stand-in detections)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from jewel_vision.training.type_sources import PP_JEWELRY

from ._scripts import load_script


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides the project-wide autouse fixture (no Django needed)."""
    yield


@dataclass
class _Item:
    box: tuple
    score: float
    mask: np.ndarray

    @property
    def area_fraction(self) -> float:
        return float(self.mask.mean())


def _item(mask: np.ndarray, score: float) -> _Item:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return _Item((xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h), score, mask)


def test_a_piece_is_found_by_a_tight_mask_not_by_a_blob_over_the_photo():
    bench = load_script("detector_people")
    labels = np.zeros((200, 100), np.uint8)
    labels[50:60, 20:30] = PP_JEWELRY["earring"]
    labels[150:170, 40:80] = PP_JEWELRY["bracelet"]
    truth = bench.pieces(labels, min_pixels=40)
    assert sorted(t for t, _ in truth) == ["bracelet", "earring"]
    jewelry = labels > 0
    blob = np.zeros_like(jewelry)
    blob[:, :] = True  # covers everything, lies 0.3 % on jewelry
    tight = np.zeros_like(jewelry)
    tight[148:172, 38:82] = True  # the bracelet and a margin
    shoe = np.zeros_like(jewelry)
    shoe[190:200, 0:10] = True  # on no jewelry
    rows, stray = bench.score_photo(truth, [_item(blob, 0.95), _item(tight, 0.6), _item(shoe, 0.9)], jewelry)
    by_type = {r["type"]: r for r in rows}
    assert by_type["bracelet"]["found"] and not by_type["bracelet"]["confident"]  # found, but under 0.8
    assert not by_type["earring"]["found"] and by_type["earring"]["covered"] == 1.0  # only the blob covers it
    assert stray == {"stray": 1, "stray_confident": 1, "over_a_quarter": 1}
    summary = bench.summarise(rows)
    assert summary["bracelet"]["found"] == 1.0 and summary["earring"]["found"] == 0.0
