"""The metal-tone check's report (``train_stones check-attributes``)."""

from __future__ import annotations

from jewel_vision.training.stone_checks import _tone_report


def test_tone_report_counts_recall_per_tone():
    report = _tone_report(["yellow", "yellow", "rose"], ["yellow", "white", "rose"])
    assert report["n"] == 3 and abs(report["accuracy"] - 2 / 3) < 1e-9
    assert report["yellow"]["recall"] == 0.5 and report["yellow"]["predicted_as"] == {"yellow": 1, "white": 1}
    assert report["white"]["recall"] is None
