"""Scoring rules of ``jewel-vision eval`` that are easy to get subtly wrong."""

from pathlib import Path

import pytest

from jewel_vision.evaluation.evaluate import Prediction, score
from jewel_vision.evaluation.manifest import Row

RING = (0.40, 0.40, 0.50, 0.50)
WATCH = (0.10, 0.60, 0.40, 0.90)


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: no Django needed here."""
    yield


def _pred(boxes):
    return Prediction(boxes=[(b, s) for b, s, _ in boxes], box_labels=[label for _, _, label in boxes])


def test_detection_ap_counts_only_pieces_of_the_rows_type():
    """A confidently detected watch next to the labelled ring is not a false ring."""
    rows = [Row(path=Path("a.jpg"), type="ring", boxes=[RING]), Row(path=Path("b.jpg"), type="ring", boxes=[RING])]
    preds = [
        _pred([(WATCH, 0.99, "watch"), (RING, 0.90, "ring")]),
        _pred([(RING, 0.95, "ring")]),
    ]
    det = score(rows, preds, ["type", "boxes_yolo_norm"], {})["detection"]
    assert det["ap50"] == pytest.approx(1.0)
    assert det["ap50_any_label"] < 1.0  # the class-agnostic figure does count the watch


def test_detection_ap_label_map_and_untyped_rows():
    rows = [Row(path=Path("a.jpg"), type="pendant", boxes=[RING]), Row(path=Path("b.jpg"), boxes=[RING])]
    preds = [_pred([(RING, 0.9, "necklace")]), _pred([(RING, 0.8, "earring")])]
    assert score(rows, preds, ["type", "boxes_yolo_norm"], {})["detection"]["ap50"] < 1.0
    merged = score(rows, preds, ["type", "boxes_yolo_norm"], {"pendant": "necklace"})["detection"]
    assert merged["ap50"] == pytest.approx(1.0)  # untyped rows keep every piece
