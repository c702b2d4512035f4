"""The stamp recogniser: input batches, CTC decoding, the shipped weights on rendered stamps,
and the reader's use of it as a last resort (no Django)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader
from jewel_vision.vision.predictors.ocr_engines import HALLMARK_ALPHABET
from jewel_vision.vision.predictors.stamp_recogniser import (
    CHARACTERS,
    IMG_H,
    MAX_RATIO,
    StampRecogniser,
    greedy_decode,
    line_tensor,
)
from jewel_vision.vision.stamps import make_cross_specs, render_spec


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


@pytest.fixture(scope="module")
def shipped() -> StampRecogniser:
    rec = StampRecogniser(allowlist=HALLMARK_ALPHABET)
    assert rec.available, "vision/weights/stamp_recogniser.npz is missing"
    return rec


def test_line_tensor_keeps_aspect_pads_with_last_column_and_bounds_width():
    dark = Image.new("L", (40, 20), 0)
    dark.paste(255, (39, 0, 40, 20))  # a white last column
    sliver = Image.new("L", (4000, 10), 128)
    x = line_tensor([dark, sliver]).numpy()
    assert x.shape == (2, 1, IMG_H, int(np.ceil(IMG_H * MAX_RATIO)))  # the sliver is squeezed to 16:1
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x[0, 0, :, 0].max() < -0.9  # black -> -1
    assert (x[0, 0, :, 200:] > 0.9).all()  # the padding repeats the white last column


def test_greedy_decode_collapses_repeats_and_drops_blanks_and_masked_columns():
    col = {ch: i + 1 for i, ch in enumerate(CHARACTERS)}
    frames = [col["9"], col["9"], 0, col["9"], col["2"], col["!"], col["5"], 0]
    logits = np.full((1, len(frames), len(CHARACTERS) + 1), -10.0, np.float32)
    for t, k in enumerate(frames):
        logits[0, t, k] = 10.0
    logits[0, 5, col["5"]] = 9.0  # the runner-up of the "!" frame
    assert greedy_decode(logits)[0][0] == "992!5"
    allowed = np.array([1.0] + [float(ch in HALLMARK_ALPHABET) for ch in CHARACTERS], np.float32)
    text, score = greedy_decode(logits, allowed)[0]
    assert text == "9925"  # "!" masked out: its frame reads "5", merged with the next frame's "5"
    assert 0.5 < score <= 1.0


def test_shipped_weights_read_tune_lines_better_than_english_g2(shipped):
    """Lines of renders from a tune seed it was not trained on (50): the fine-tuned layers read
    far more of them exactly than english_g2 as shipped."""
    reader = HallmarkReader(recogniser=None)
    crops, labels = [], []
    for spec in make_cross_specs(24, 50, "tune"):
        region, _ = reader.regions(render_spec(spec))[0]
        lines = reader.line_crops(region)
        if len(lines) == 1:
            crops.append(lines[0][0])
            labels.append(spec.text.replace(" ", ""))
    assert len(crops) >= 12
    exact = lambda rec: np.mean([t.replace(" ", "") == y for (t, _), y in zip(rec.recognise(crops), labels)])
    ours, stock = exact(shipped), exact(StampRecogniser(trained=False, allowlist=HALLMARK_ALPHABET))
    assert ours >= 0.8 and ours >= stock + 0.2, (ours, stock)


def test_reader_completes_a_gold_pair_with_the_recogniser(shipped):
    """A 12 px '750 18K' on a curved band in a frame: the engine's passes read only '18K'; the
    recogniser, on the lines the detector found, adds '750' (and its finding says who read it)."""
    spec = make_cross_specs(120, 40, "tune")[81]
    assert spec.text == "750 18K" and spec.margin is not None and spec.curved
    img = render_spec(spec)
    without = HallmarkReader(recogniser=None).read(img, force=True)
    assert {f.normalised for f in without if f.normalised} == {"18K"}
    reader = HallmarkReader(recogniser=shipped)
    found = {f.normalised: f for f in reader.read(img, force=True) if f.normalised}
    assert set(found) == {"18K", "750"}
    assert found["750"].engine == f"stamp-crnn@{shipped.version}"
    assert found["750"].metal == "gold" and found["750"].purity == pytest.approx(0.75)


def test_default_reader_uses_the_shipped_recogniser(shipped):
    reader = HallmarkReader()
    assert reader.recogniser is not None and reader.recogniser.path == shipped.path
    assert HallmarkReader(recogniser=None).recogniser is None


def test_weights_file_of_another_shape_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"Prediction.weight": np.zeros((3, 3), np.float16)})
    with pytest.raises(ValueError, match="not a stamp recogniser"):
        StampRecogniser(bad).load()


class _Says(StampRecogniser):
    """A recogniser that reads every line as ``text`` (to test the reader's rules around it)."""

    def __init__(self, text: str) -> None:
        super().__init__(trained=False)
        self.text = text

    def recognise(self, crops):
        return [(self.text, 0.99) for _ in crops]


@pytest.mark.parametrize("says,marks", [("375", {"18K"}), ("750", {"18K", "750"})])
def test_half_pair_is_completed_only_by_a_fineness_that_agrees(says, marks):
    spec = make_cross_specs(120, 40, "tune")[81]  # the passes read "18K" only (test above)
    found = HallmarkReader(recogniser=_Says(says)).read(render_spec(spec), force=True)
    assert {f.normalised for f in found if f.normalised} == marks
