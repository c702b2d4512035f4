"""The stamp gate: p(stamp close-up) from the embedding decides where OCR runs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader
from jewel_vision.vision.predictors.stamp_gate import DEFAULT_STAMP_GATE_PATH, StampGate
from jewel_vision.vision.stamps import render_packshot, render_stamp
from tests.vision._images import draw_ring


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


@pytest.fixture(scope="module")
def gate():
    return StampGate()


def test_shipped_head_and_thresholds(gate, embedder):
    assert DEFAULT_STAMP_GATE_PATH.is_file()
    assert gate.classes == ["photo", "stamp"]
    assert 0.0 < gate.low < gate.high < 1.0
    assert gate.embedder_name == embedder.full_name
    assert gate.full_name.startswith("stamp-gate@")
    report = gate.metadata["report"]["test_stamps_and_heldout_photos"]
    assert report["stamps_skipped"] <= 0.01 and report["photos_skipped"] >= 0.95


def test_stamps_and_product_photos_are_told_apart(gate, embedder):
    # unseen renders (seeds and sizes the training set did not use) and drawn product photos
    stamps = [render_stamp(t, style=s, metal=m, curved=c, size_px=z, seed=70_000 + i)
              for i, (t, s, m, c, z) in enumerate([("S925", "debossed", "white", True, 22), ("750", "embossed", "yellow", False, 18),
                                                   ("PT950", "debossed", "white", False, 26), ("14K", "embossed", "rose", True, 20)])]
    photos = [render_packshot(seed) for seed in (1, 2, 3)] + [draw_ring()]
    p = gate.stamp_probability(embedder.embed(stamps + photos))
    assert p.shape == (8,) and p.dtype == np.float32
    assert (p[:4] >= gate.high).all(), p  # read without the text gate
    # drawn product photos are never read unchecked (most are not even shown to the text gate)
    assert (p[4:] < min(0.1, gate.high)).all(), p


class _NoTextGate:
    """A text-gate engine that must not be called."""

    def detect(self, *args, **kwargs):
        raise AssertionError("the text gate ran")


def test_reader_decides_from_the_embedding(gate, embedder):
    reader = HallmarkReader("rapidocr", stamp_gate=gate, gate_engine=_NoTextGate())
    photo = render_packshot(1)
    assert reader.read(photo, embedding=embedder.embed([photo])[0]) == []
    assert not reader.last_gate.passed and "not a stamp" in reader.last_gate.reason
    stamp = render_stamp("S925", style="debossed", metal="white", curved=True, size_px=22, blur=0.6, seed=101)
    found = reader.read(stamp, embedding=embedder.embed([stamp])[0])
    assert reader.last_gate.passed and "stamp close-up" in reader.last_gate.reason
    assert found and found[0].normalised == "S925"


def test_between_thresholds_the_text_gate_decides(gate, embedder, monkeypatch):
    reader = HallmarkReader("rapidocr", stamp_gate=gate)
    monkeypatch.setattr(gate, "stamp_probability", lambda v: np.array([(gate.low + gate.high) / 2], np.float32))
    blank = Image.new("RGB", (200, 120), (180, 180, 180))
    assert reader.read(blank, embedding=np.zeros(1280, np.float32)) == []
    assert reader.last_gate.reason in ("no text detected", "no text-like boxes")  # the text gate's verdict
