"""Large non-JPEG images are decoded in a child process (``image_io.isolate_pixels``): same pixels,
same errors, and the caller's peak memory does not grow with the photo."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from jewel_vision.vision import image_io
from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.types import ImageDecodeError

from ._images import draw_ring, to_bytes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def children(monkeypatch) -> list[list[str]]:
    """The child processes started (they still run: this only records their command lines)."""
    started: list[list[str]] = []
    real_run = subprocess.run

    def run(args, *a, **kw):
        started.append(list(args))
        return real_run(args, *a, **kw)

    monkeypatch.setattr(image_io.subprocess, "run", run)
    return started


def _png(size=(600, 450), mode="RGB") -> bytes:
    return to_bytes(draw_ring(size=size).convert(mode), "PNG")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "I;16"])
def test_a_large_png_decodes_in_a_child_to_the_same_pixels(children, mode):
    data = _png(mode=mode)
    here = load_image(data, max_side=320, isolate_pixels=None)
    there = load_image(data, max_side=320, isolate_pixels=10_000)
    assert len(children) == 1 and children[0][1:3] == ["-m", "jewel_vision.vision.decode_process"]
    assert there.mode == "RGB" and there.size == here.size
    assert np.array_equal(np.asarray(there), np.asarray(here))


def test_small_images_and_jpegs_stay_in_process(children):
    load_image(_png(size=(90, 90)), isolate_pixels=10_000)
    load_image(to_bytes(draw_ring(size=(600, 450)), "JPEG"), isolate_pixels=10_000)  # DCT scaling instead
    assert children == []


def test_a_corrupt_large_png_is_a_clear_error_from_the_child(children):
    data = _png()
    broken = data[: len(data) // 2]  # header intact, pixels cut off
    with pytest.raises(ImageDecodeError) as here:
        load_image(broken, isolate_pixels=None)
    with pytest.raises(ImageDecodeError) as there:
        load_image(broken, isolate_pixels=10_000)
    assert len(children) == 1
    assert str(there.value) == str(here.value)


def test_a_child_that_dies_is_a_decode_error(monkeypatch):
    """A decoder crash (a hostile file) takes the child down, not the worker: a clear error."""
    real_run = subprocess.run
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setattr(image_io.subprocess, "run", lambda args, **kw: real_run(crash, **kw))
    with pytest.raises(ImageDecodeError, match="decoder process failed"):
        load_image(_png(), isolate_pixels=10_000)


@pytest.mark.parametrize("executable", ["/usr/bin/uwsgi", ""])
def test_without_a_python_to_start_it_decodes_in_process(children, monkeypatch, executable):
    """Under uWSGI, sys.executable is not a Python: the photo is still decoded, here."""
    monkeypatch.setattr(image_io.sys, "executable", executable)
    img = load_image(_png(), max_side=320, isolate_pixels=10_000)
    assert children == [] and img.size == (320, 240)


PEAK = textwrap.dedent("""
    import sys
    from jewel_vision.vision.image_io import load_image

    def status(key):
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key)) // 1024

    data = open(sys.argv[1], "rb").read()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM, the peak, to the RSS of now (Linux >= 4.0)
    base = status("VmRSS:")
    img = load_image(data, isolate_pixels=None if sys.argv[2] == "none" else int(sys.argv[2]))
    print(status("VmHWM:") - base, img.size)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc/self/status")
def test_the_callers_peak_memory_stays_flat(tmp_path):
    """A 24 Mpx PNG: decoded in process it adds ~100 MB (4 bytes a pixel) to the caller's peak;
    decoded in a child, almost nothing beyond the small result."""
    w, h = 5600, 4300
    small = Image.fromarray(np.random.default_rng(0).integers(0, 255, (h // 100, w // 100, 3), dtype=np.uint8))
    path = tmp_path / "big.png"
    small.resize((w, h), Image.Resampling.BILINEAR).save(path, compress_level=1)
    peaks = {}
    for isolate in ("none", str(image_io.DEFAULT_ISOLATE_PIXELS)):
        out = subprocess.run([sys.executable, "-c", PEAK, str(path), isolate], capture_output=True, text=True,
                             check=True, cwd=str(tmp_path), env={"PYTHONPATH": ":".join(sys.path)}).stdout.split()
        peaks[isolate] = int(out[0])
    assert peaks["none"] >= 80, peaks
    assert peaks[str(image_io.DEFAULT_ISOLATE_PIXELS)] <= 40, peaks
