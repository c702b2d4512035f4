"""The HallmarkReader on rendered stamps: gate, passes, rotations, two-part marks (no Django)."""

from __future__ import annotations

import pytest

from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader, ReaderConfig
from jewel_vision.vision.stamps import make_cross_specs, render_packshot, render_spec, render_stamp
from jewel_vision.vision.types import TextFinding


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield


@pytest.fixture(scope="module")
def reader():
    return HallmarkReader("rapidocr")


@pytest.mark.parametrize(
    "text,kw,mark,metal,purity",
    [
        ("S925", dict(style="debossed", metal="white", curved=True, size_px=22, blur=0.6, seed=101), "S925", "silver", 0.925),
        ("750", dict(style="embossed", metal="yellow", curved=False, size_px=18, blur=0.3, seed=202), "750", "gold", 0.75),
    ],
)
def test_reader_reads_rendered_stamp(reader, text, kw, mark, metal, purity):
    img = render_stamp(text, **kw)
    found = reader.read(img)  # through the gate
    assert reader.last_gate is not None and reader.last_gate.passed
    assert found and isinstance(found[0], TextFinding)
    best = found[0]
    assert best.normalised == mark and best.metal == metal and best.purity == pytest.approx(purity)
    assert best.engine.startswith("rapidocr@") and best.raw
    x0, y0, x1, y1 = best.box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_reader_keeps_raw_text_without_hallmark(reader):
    img = render_stamp("ITALY", style="debossed", metal="white", size_px=30, blur=0.0, seed=5, rotation=0)
    found = reader.read(img, force=True)
    assert found and all(f.normalised == "" and f.metal is None for f in found)
    assert any("ITAL" in f.raw.upper() for f in found)


def test_gate_skips_plain_packshot(reader):
    for seed in (1, 2, 3):
        assert reader.read(render_packshot(seed)) == []
        assert reader.last_gate is not None and not reader.last_gate.passed
        assert reader.last_gate.ms < 5000


def test_rotated_stamp_is_read(reader):
    img = render_stamp("PT950", style="debossed", metal="white", size_px=26, blur=0.0, seed=9, rotation=0)
    found = reader.read(img.rotate(90, expand=True), force=True)
    assert found and found[0].normalised == "PT950"


def test_unrotate_boxes():
    box = (0.1, 0.2, 0.4, 0.3)
    # a box in an image rotated by PIL (counter-clockwise) maps back to the original
    assert HallmarkReader._unrotate((0.6, 0.7, 0.9, 0.8), "highpass_r180") == pytest.approx((0.1, 0.2, 0.4, 0.3))
    # 90 ccw: original (x, y) -> (y, 1 - x)
    rotated = (box[1], 1 - box[2], box[3], 1 - box[0])
    assert HallmarkReader._unrotate(rotated, "highpass_r90") == pytest.approx(box)
    # 270 ccw: original (x, y) -> (1 - y, x)
    rotated = (1 - box[3], box[0], 1 - box[1], box[2])
    assert HallmarkReader._unrotate(rotated, "raw_x2_r270") == pytest.approx(box)


_SLIVER_SCRIPT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
from PIL import Image
from jewel_vision.vision.predictors.hallmark_reader import HallmarkReader
reader = HallmarkReader("rapidocr")
for size in [(1600, 2), (2, 1600), (1600, 80)]:
    print(size, reader.read(Image.new("RGB", size, (200, 180, 50)), force=True))
"""


def test_slivers_are_read_within_bounded_memory():
    """rapidocr scales the short side to 736 px: a 1600 x 2 crop once asked for gigabytes."""
    import subprocess
    import sys

    limit = 3 * 2**30  # address space, for the whole process: onnxruntime and both OCR models
    proc = subprocess.run(
        [sys.executable, "-c", _SLIVER_SCRIPT, str(limit)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("[]") == 3


def test_two_part_mark_gives_two_findings(reader):
    """'18K 750' is two marks: both come back, each normalised to gold at 0.750."""
    img = render_stamp("18K 750", style="debossed", metal="yellow", size_px=28, blur=0.3, seed=4, rotation=0,
                       word_gap=1.5)
    found = reader.read(img, force=True)
    marks = {f.normalised: f for f in found if f.normalised}
    assert set(marks) == {"18K", "750"}, [f.raw for f in found]
    for f in marks.values():
        assert f.metal == "gold" and f.purity == pytest.approx(0.75)
    # the two parts have their own boxes, the karat's left of the fineness
    assert marks["18K"].box[0] < marks["750"].box[0]


@pytest.mark.parametrize("index,marks", [(26, {"S925"}), (72, {"14K", "585"})])
def test_tiny_stamp_on_curved_band_is_read(reader, index, marks):
    """A 14-16 px stamp on a curved band, a few % of a ~700 px photo: found (locate, then zoom) and read."""
    spec = make_cross_specs(90, 0, "tune")[index]
    assert spec.margin is not None and spec.curved and spec.size_px <= 16
    img = render_spec(spec)
    assert max(img.size) >= 500
    found = reader.read(img)  # through the text gate (no embedding here)
    assert reader.last_gate is not None and reader.last_gate.passed
    assert {f.normalised for f in found if f.normalised} == marks, [f.raw for f in found]


def test_no_lexicon_snapping_by_default():
    """Readings are parsed by rules, never snapped to a closed list of whole marks."""
    assert ReaderConfig().lexicon_passes == ()


def test_locate_finds_tiny_stamp_the_high_pass_hides(reader):
    """A 14 px raised '925' in a ~560 px photo: the high-passed looks find no box, the raw look at 2x does."""
    spec = make_cross_specs(200, 7, "tune")[190]
    assert spec.margin is not None and spec.size_px <= 14 and spec.text == "925"
    img = render_spec(spec)
    high_pass_only = HallmarkReader("rapidocr", config=ReaderConfig(locate_looks=("highpass_x1", "highpass_x2")))
    assert high_pass_only._locate(img) == []
    assert reader._locate(img), "the default looks found no text box"
    found = reader.read(img, force=True)
    assert {f.normalised for f in found if f.normalised} == {"S925"}, [f.raw for f in found]


def test_text_gate_finds_tiny_stamp_on_the_raw_photo(reader):
    """A 16 px punched '750' in a 704 px photo: the high-passed gate looks find no line, the raw look does."""
    spec = make_cross_specs(120, 41, "tune")[100]
    assert spec.margin is not None and spec.size_px <= 16 and spec.text == "750"
    img = render_spec(spec)
    high_pass_only = HallmarkReader("rapidocr", config=ReaderConfig(gate_zoom_looks=("highpass",)))
    assert not high_pass_only.gate(img).passed
    assert reader.gate(img).passed
    assert {f.normalised for f in reader.read(img) if f.normalised} == {"750"}


def test_unknown_looks_are_refused_when_the_config_is_made():
    with pytest.raises(ValueError, match="gate look"):
        ReaderConfig(gate_zoom_looks=("sepia",))
    with pytest.raises(ValueError, match="locate look"):
        ReaderConfig(locate_looks=("raw_x2", "sepia_x1"))
    with pytest.raises(ValueError, match="locate look"):
        ReaderConfig(locate_looks=("raw_xbig",))
    assert ReaderConfig(locate_looks=("raw", "highpass_x1.5")).gate_zoom_looks == ("highpass", "raw")


def test_config_id_follows_the_reading_rules():
    a = HallmarkReader("rapidocr", recogniser=None)
    b = HallmarkReader("rapidocr", recogniser=None, config=ReaderConfig(gate_zoom_looks=("highpass",)))
    assert a.config_id.startswith("reader@") and a.config_id != b.config_id
    assert a.config_id == HallmarkReader("rapidocr", recogniser=None).config_id
