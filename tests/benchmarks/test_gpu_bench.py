"""benchmarks/gpu_bench.py runs end to end (on the CPU here), so the prepared GPU check cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ._scripts import BENCHMARKS, load_script

SCRIPT = BENCHMARKS / "gpu_bench.py"


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides the project-wide autouse fixture (no Django needed)."""
    yield


def _load():
    return load_script("gpu_bench")


def _rings(folder: Path, n: int) -> Path:
    """``n`` drawn rings on a white background, a different one each."""
    folder.mkdir()
    for i in range(n):
        img = Image.new("RGB", (320, 240), (245, 245, 245))
        ImageDraw.Draw(img).ellipse((100 + 10 * i, 60, 220, 180), outline=(212, 175, 55), width=12)
        img.save(folder / f"p{i}.jpg")
    return folder


def test_runs_on_the_cpu_and_writes_its_json(tmp_path) -> None:
    photos = _rings(tmp_path / "photos", 4)
    out = tmp_path / "gpu.json"
    rc = _load().main(["--device", "cpu", "--precisions", "fp32", "--batch-sizes", "1,2", "--n", "4",
                       "--images", str(photos), "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["device"] == "cpu" and res["n"] == 4 and res["skipped"] == []
    assert [(e["batch_size"], e["precision"]) for e in res["embedding"]] == [(1, "fp32"), (2, "fp32")]
    assert all(e["images_per_second"] > 0 for e in res["embedding"])
    assert [p["batch_size"] for p in res["pipeline"]] == [1, 2]
    for p in res["pipeline"]:
        assert p["images_per_second"] > 0 and {"detect", "embedding"} <= set(p["stage_ms"])


def test_budget_skips_the_remaining_runs(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (64, 64), (200, 180, 90)).save(photos / "a.png")
    out = tmp_path / "gpu.json"
    assert _load().main(["--device", "cpu", "--precisions", "fp32", "--batch-sizes", "1", "--budget", "0",
                         "--images", str(photos), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["embedding"] == [] and res["pipeline"] == [] and res["skipped"] == ["embedding b1 fp32", "pipeline b1"]


def test_says_so_without_a_gpu(monkeypatch, tmp_path) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _load().main(["--device", "cuda", "--images", str(tmp_path)]) == 3


def test_the_worker_batch_path_runs_in_a_throwaway_shop(tmp_path) -> None:
    """``--worker-path``: the worker's claim-batch-store path at each batch size (a subprocess: it sets Django up)."""
    import os
    import subprocess
    import sys

    photos = _rings(tmp_path / "photos", 3)
    out = tmp_path / "gpu.json"
    env = {**os.environ, "JEWEL_VISION_VAR_DIR": str(tmp_path / "var")}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--precisions", "fp32", "--batch-sizes", "1,3", "--n", "3",
         "--images", str(photos), "--worker-path", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    # Batch 1: one task per photo; batch 3: the first task claims and stores all three.
    assert [(w["batch_size"], w["photos"], w["tasks"]) for w in res["worker_path"]] == [(1, 3, 3), (3, 3, 1)]
    assert all(w["images_per_second"] > 0 for w in res["worker_path"])


def test_several_processes_share_the_device(tmp_path) -> None:
    """``--processes``: P pipelines at once, every photo each; their photos per second together."""
    import os
    import subprocess
    import sys

    photos = _rings(tmp_path / "photos", 2)
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--precisions", "fp32", "--batch-sizes", "2", "--n", "2",
         "--images", str(photos), "--processes", "1,2", "--json", str(out)],
        env={**os.environ, "JEWEL_VISION_VAR_DIR": str(tmp_path / "var")}, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [(p["processes"], p["batch_size"], p["photos"]) for p in res["processes"]] == [(1, 2, 2), (2, 2, 4)]
    assert all(p["images_per_second"] > 0 for p in res["processes"])
