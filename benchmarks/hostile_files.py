"""Peak memory and time of decoding (and tagging) hostile files, each in a fresh process.

    python benchmarks/hostile_files.py [--tag] [--json benchmarks/results/hostile-files.json]

Builds the corpus of ``tests/hostile_corpus.py`` (the tests push the same files
through every upload path) in a temporary folder (slivers, decompression
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
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile_corpus import corpus  # noqa: E402  (one copy, shared with the tests)

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
