"""tag_command: a table or JSON per file; bad files reported, the rest still tagged."""

from __future__ import annotations

import json

import pytest

from jewel_vision.vision.cli_tag import main, tag_command
from jewel_vision.vision.pipeline import PipelineConfig

from ._images import draw_necklace, draw_ring, to_bytes

pytestmark = pytest.mark.timeout(120)
CPU = PipelineConfig(device="cpu")


@pytest.fixture()
def photos(tmp_path):
    ring = tmp_path / "ring.jpg"
    ring.write_bytes(to_bytes(draw_ring(), "JPEG"))
    necklace = tmp_path / "necklace.png"
    necklace.write_bytes(to_bytes(draw_necklace(), "PNG"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    return ring, necklace, broken


def test_table(photos, capsys):
    ring, necklace, _ = photos
    assert tag_command([str(ring), str(necklace)], as_json=False, config=CPU) == 0
    out = capsys.readouterr().out
    assert str(ring) in out and str(necklace) in out
    assert "type" in out and "320x240" in out


def test_bad_file_is_reported_and_others_continue(photos, capsys):
    ring, necklace, broken = photos
    rc = tag_command([str(ring), str(broken), str(necklace), str(broken.with_name("missing.jpg"))], False, CPU)
    assert rc == 1
    captured = capsys.readouterr()
    assert str(ring) in captured.out and str(necklace) in captured.out
    assert f"error: {broken}: not an image: cannot identify image file" in captured.err
    assert "file not found" in captured.err
    assert "2 of 4 photos could not be read" in captured.err


def test_json(photos, capsys):
    ring, necklace, broken = photos
    rc = tag_command([str(ring), str(broken), str(necklace)], as_json=True, config=CPU)
    assert rc == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["pipeline_version"].startswith("p2+effnet-lite0@imagenet+type@")
    results = doc["results"]
    assert [r["path"] for r in results] == [str(ring), str(broken), str(necklace)]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[1]["error"].startswith("not an image")
    tags = results[0]["tags"]
    assert tags and tags[0]["facet"] == "type" and 0 <= tags[0]["confidence"] <= 1
    assert isinstance(tags[0]["confident"], bool)
    assert (results[0]["width"], results[0]["height"]) == (320, 240)


def test_main_entry(photos, capsys):
    ring, _, _ = photos
    assert main(["--json", "--device", "cpu", str(ring)]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["ok"] is True


def test_missing_head_exits_2(photos, capsys, tmp_path):
    ring, _, _ = photos
    rc = tag_command([str(ring)], False, PipelineConfig(device="cpu", type_head_path=str(tmp_path / "no.npz")))
    assert rc == 2
    assert "cannot load the vision models" in capsys.readouterr().err


def test_sliver_png_is_rejected_clearly(tmp_path, capsys):
    """A 266-byte 20,000 x 3 PNG once made `tag` peak at 23 GB."""
    from PIL import Image

    strip = tmp_path / "strip.png"
    Image.new("RGB", (20000, 3), (200, 180, 50)).save(strip, optimize=True)
    assert strip.stat().st_size < 1000
    assert tag_command([str(strip)], as_json=False, config=CPU) == 1
    assert "image too small: 20000x3 pixels" in capsys.readouterr().err
