"""Time and peak memory of ``jewel-vision tag`` and ``jewel-vision bench`` as photos grow (issue 12.5).

    python benchmarks/image_size_cost.py [--sizes 0.3 1 4 12 40] [--formats JPEG PNG] [--bench-n 4] \
        [--json benchmarks/results/image-size-cost.json]

For each size (megapixels, 4:3) and format, photos are drawn here (``shop.catalog.draw_item``,
resized to the size) and each command runs in a fresh process of its own:

* the decode step alone (``image_io.load_image``): its time, the image it hands on, how much
  it raised the process' peak RSS, and the peak of the child process that decoded it when it was
  too large to decode at a reduced scale (``isolate_pixels``: PNG above 16 Mpx);
* ``jewel-vision tag --json PHOTO``: wall time of the whole command (models loaded included),
  the pipeline's own time for the photo (its ``timings_ms.total``) and the process' peak RSS;
* ``jewel-vision bench --images DIR --n N --batch-size N`` on N photos of that size: photos/s and
  peak RSS (the bench holds every photo's file bytes at once, as a worker's batch does).

Peak RSS is the child's ``ru_maxrss`` read with ``os.wait4``. Flat means: past the size where
photos start to be downscaled (``max_side`` 1600 px: 1.9 Mpx at 4:3), the figures stop growing
with the photo, apart from the file bytes held and what the decoder needs to read the file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "jewel_vision.cli"]
# The pipeline's decode step alone (``image_io.load_image`` with its defaults), in a process of its own.
DECODE = """
import json, re, sys, time
from jewel_vision.vision.image_io import load_image
def kb(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))
open("/proc/self/clear_refs", "w").write("5")  # peak RSS := current RSS
before = kb("VmRSS")
t0 = time.perf_counter()
img = load_image(sys.argv[1])
ms = (time.perf_counter() - t0) * 1000
import resource  # a photo decoded in a child process (image_io.isolate_pixels): that child's own peak
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"ms": round(ms, 1), "size": list(img.size), "rss_growth_mb": round((kb("VmHWM") - before) / 1024, 1),
                  "decoder_process_peak_mb": round(child, 1) if child else None}))
"""


def make_photo(path: Path, megapixels: float, fmt: str, seed: int) -> tuple[int, int]:
    """A drawn piece of jewelry resized to ``megapixels`` (4:3) and saved as ``fmt``."""
    from PIL import Image

    from shop.catalog import draw_item

    rng = random.Random(seed)
    item = draw_item(rng.choice(["ring", "earring", "necklace", "bracelet"]), rng.choice(["gold", "silver"]), rng, size=768)
    height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = round(height * 4 / 3)
    canvas = Image.new("RGB", (width, height), item.getpixel((0, 0)))
    side = min(width, height)
    canvas.paste(item.resize((side, side), Image.Resampling.BICUBIC), ((width - side) // 2, 0))
    canvas.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 6}))
    return width, height


def run_child(cmd: list[str]) -> tuple[float, float, str, int]:
    """(wall seconds, peak RSS MB, stdout, exit status) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - began, usage.ru_maxrss / 1024, out, proc.returncode


def measure(folder: Path, megapixels: float, fmt: str, bench_n: int) -> dict:
    suffix = "jpg" if fmt == "JPEG" else "png"
    paths = [folder / f"photo-{k}.{suffix}" for k in range(bench_n)]
    width, height = 0, 0
    for k, path in enumerate(paths):
        # In a child, so this process stays small: a child's ru_maxrss starts from its parent's RSS.
        _, _, out, _ = run_child([sys.executable, __file__, "--make", str(path), str(megapixels), fmt, str(k)])
        width, height = json.loads(out)
    row = {"megapixels": megapixels, "format": fmt, "width": width, "height": height,
           "file_mb": round(sum(p.stat().st_size for p in paths) / len(paths) / 2**20, 2)}

    wall, rss, out, code = run_child([sys.executable, "-c", DECODE, str(paths[0])])
    row["decode_only"] = {"exit": code, "peak_rss_mb": round(rss, 1), **(json.loads(out) if code == 0 else {})}
    wall, rss, out, code = run_child([*CLI, "tag", "--json", str(paths[0])])
    result = json.loads(out)["results"][0] if out.strip().startswith("{") else {}
    row["tag"] = {"exit": code, "error": result.get("error"), "wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1),
                  "pipeline_ms": result.get("timings_ms", {}).get("total"),
                  "decode_ms": result.get("timings_ms", {}).get("decode"),
                  "analysed_as": [result.get("width"), result.get("height")]}
    report = folder / "bench.json"
    wall, rss, _, code = run_child([*CLI, "bench", "--images", str(folder), "--n", str(bench_n),
                                    "--batch-size", str(bench_n), "--json", str(report)])
    bench = json.loads(report.read_text()) if code == 0 else {}
    row["bench"] = {"exit": code, "wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1),
                    "photos_per_second": round(bench.get("images_per_second", 0.0), 3),
                    "ms_per_photo": round(1000 / bench["images_per_second"], 1) if bench.get("images_per_second") else None,
                    "decode_ms_per_photo": round(bench.get("stage_ms", {}).get("decode", 0.0), 1) or None}
    for path in [*paths, report]:
        path.unlink(missing_ok=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.3, 1, 4, 12, 40])
    parser.add_argument("--formats", nargs="+", default=["JPEG", "PNG"])
    parser.add_argument("--bench-n", type=int, default=4, help="photos per bench run (also its batch size)")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--make", nargs=4, metavar=("PATH", "MPX", "FORMAT", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        path, mpx, fmt, seed = args.make
        print(json.dumps(make_photo(Path(path), float(mpx), fmt, int(seed))))
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="jv-image-size-") as tmp:
        for fmt in args.formats:
            for mpx in args.sizes:
                folder = Path(tmp) / f"{fmt}-{mpx}"
                folder.mkdir()
                row = measure(folder, mpx, fmt, args.bench_n)
                rows.append(row)
                print(f"{fmt:4} {mpx:5.1f} Mpx ({row['file_mb']:6.2f} MB): tag {row['tag']['wall_s']:6.2f} s "
                      f"{row['tag']['peak_rss_mb']:7.1f} MB (pipeline {row['tag']['pipeline_ms']} ms) | decode "
                      f"{row['decode_only'].get('ms')} ms +{row['decode_only'].get('rss_growth_mb')} MB | bench "
                      f"{row['bench']['photos_per_second']:.2f} photos/s {row['bench']['peak_rss_mb']:7.1f} MB", flush=True)
    out = {"date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(), "bench_n": args.bench_n, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
