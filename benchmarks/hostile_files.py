"""Peak memory and time of decoding (and tagging) hostile files, each in a fresh process.

    python benchmarks/hostile_files.py [--tag] [--json benchmarks/results/hostile-files.json]

Builds a corpus of awkward files in a temporary folder (slivers, decompression
bombs, 16-bit and float images, truncated and polyglot files, SVG/HTML under an
image name, CMYK, animations, EXIF rotations) and, for each, runs in a new
Python process:

* ``decode``: ``load_image`` as the web process does for search by photo
  (peak RSS above the process's RSS after imports, and wall time);
* with ``--tag``: ``jewel-vision tag`` on it, the whole pipeline as a worker
  runs it (peak RSS of the process, which includes the models).

Each file must come out decoded or cleanly rejected; the script prints the
outcome (the decoded size or the error message) beside the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

_DECODE = r"""
import json, sys, time
from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.types import ImageDecodeError
def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current RSS: imports are not the file's cost
base = status_kb("VmRSS")
t0 = time.perf_counter()
try:
    img = load_image(sys.argv[1])
    outcome = f"decoded {img.size[0]}x{img.size[1]} {img.mode}"
except ImageDecodeError as exc:
    outcome = f"rejected: {exc}"
ms = (time.perf_counter() - t0) * 1000
peak = status_kb("VmHWM")
print(json.dumps({"outcome": outcome, "ms": round(ms, 1), "peak_above_base_mb": round((peak - base) / 1024, 1)}))
"""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def corpus() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8))
    files: dict[str, bytes] = {}
    files["sliver-20000x3.png"] = _save(Image.new("RGB", (20000, 3), (200, 180, 50)), "PNG", optimize=True)
    files["sliver-3x20000.png"] = _save(Image.new("RGB", (3, 20000), (200, 180, 50)), "PNG", optimize=True)
    files["strip-20to1-16000x800.png"] = _save(Image.new("RGB", (16000, 800), (200, 180, 50)), "PNG", optimize=True)
    files["grey16-6300x6300.png"] = _save(Image.fromarray(np.full((6300, 6300), 1000, np.uint16)), "PNG")
    files["float-6000x6000.tif"] = _save(
        Image.fromarray(np.zeros((6000, 6000), np.float32), "F"), "TIFF", compression="tiff_adobe_deflate"
    )
    files["bomb-header-100000x100000.png"] = _png_header_only(100_000, 100_000)
    files["bomb-7000x7000-zeros.png"] = _save(Image.new("L", (7000, 7000)), "PNG", optimize=True)
    jpeg = _save(photo, "JPEG", quality=90)
    files["truncated.jpg"] = jpeg[: len(jpeg) // 2]
    files["truncated.png"] = _save(photo, "PNG")[:5000]
    files["cmyk.jpg"] = _save(photo.convert("CMYK"), "JPEG")
    frames = [Image.new("P", (400, 300), i) for i in range(50)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    files["animated-50-frames.gif"] = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    files["exif-rotated.jpg"] = _save(photo, "JPEG", exif=exif.tobytes())
    files["svg-named.png"] = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>'
    files["html-named.jpg"] = b"<html><script>alert(1)</script></html>"
    files["polyglot-jpeg-zip.jpg"] = jpeg + b"PK\x03\x04" + b"\x00" * 1000
    files["huge-jpeg-12000x9000.jpg"] = _save(Image.new("RGB", (12000, 9000), (180, 160, 120)), "JPEG", quality=50)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", action="store_true", help="also run `jewel-vision tag` on each file")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in corpus().items():
            path = Path(tmp) / name
            path.write_bytes(data)
            proc = subprocess.run([sys.executable, "-c", _DECODE, str(path)], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                row = {"outcome": f"CRASHED: {proc.stderr.strip().splitlines()[-1:]}"}
            else:
                row = json.loads(proc.stdout)
            row["file_bytes"] = len(data)
            if args.tag:
                tag = subprocess.run(
                    ["/usr/bin/time", "-f", "%M %e", str(Path(sys.executable).with_name("jewel-vision")), "tag", str(path)],
                    capture_output=True, text=True, cwd=ROOT,
                )
                peak_kb, seconds = tag.stderr.strip().splitlines()[-1].split()
                row["tag_exit"] = tag.returncode
                row["tag_peak_rss_mb"] = round(int(peak_kb) / 1024, 1)
                row["tag_s"] = float(seconds)
            results[name] = row
            print(f"{name:32s} {row['file_bytes']:>10d} B  decode +{row.get('peak_above_base_mb', '?'):>6} MB "
                  f"{row.get('ms', '?'):>8} ms"
                  + (f"  tag {row['tag_peak_rss_mb']:>7} MB exit {row['tag_exit']}" if args.tag else "")
                  + f"  {row['outcome'][:90]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
