"""``jewel-vision eval`` and ``bench`` end to end on a small drawn, labelled folder."""

import argparse
import csv
import json
import random
import shutil

import pytest
from PIL import Image, ImageDraw

from jewel_vision.cli import _pipeline, main
from jewel_vision.vision.predictors.detector import DEFAULT_DETECTOR_PATH


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    from shop.catalog import draw_item

    root = tmp_path_factory.mktemp("evalset")
    rows = []
    for i, kind in enumerate(["ring", "necklace", "earring", "bracelet"] * 2):
        img = draw_item(kind, "gold", random.Random(i))
        img.save(root / f"{i}.jpg")
        mask = Image.new("L", img.size, 0)
        ImageDraw.Draw(mask).rectangle((60, 60, 320, 320), fill=255)
        mask.save(root / f"{i}.png")
        rows.append({
            "path": f"{i}.jpg", "type": kind, "metal_tone": "yellow", "gemstone": "ruby" if kind == "necklace" else "",
            "group_id": f"g{i % 4}", "mask_path": f"{i}.png", "boxes_yolo_norm": "0.5 0.5 0.6 0.6", "text": "",
            "ignored": "x",
        })
    (root / "broken.jpg").write_bytes(b"not an image")
    rows.append({"path": "broken.jpg", "type": "ring"})
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_eval_writes_every_task_with_the_public_keys(labelled, tmp_path, capsys):
    out = tmp_path / "out.json"
    html = tmp_path / "out.html"
    code = main([
        "eval", "--manifest", str(labelled / "manifest.csv"), "--json", str(out), "--html", str(html),
        "--label-map", "pendant=necklace", "--label-map", "chain=necklace",
    ])
    assert code == 0
    report = json.loads(out.read_text())
    for key in ("type", "metal_tone", "gemstone", "retrieval", "segmentation", "detection"):
        assert key in report, key
        assert report[key]["n_images"] == 9 and report[key]["images_per_second"] > 0
    assert "ocr" not in report or report["ocr"]["n"] == 0
    assert set(report["type"]) >= {"accuracy", "macro_f1", "per_class", "confusion", "n"}
    assert report["type"]["n"] == 9  # the unreadable photo counts as a wrong answer
    assert report["n_errors"] == 1
    assert {"recall@1", "recall@5", "recall@10"} <= set(report["retrieval"])
    assert "miou" in report["segmentation"] and "ap50" in report["detection"]
    assert "micro_f1" in report["gemstone"] and "macro_f1" in report["gemstone"]
    assert "confusion" in html.read_text() and "<img" in html.read_text()
    assert "type" in capsys.readouterr().out


def test_label_map_merges_truth_and_predictions(labelled, tmp_path):
    out = tmp_path / "merged.json"
    maps = [f"{k}=jewel" for k in ("ring", "necklace", "earring", "bracelet", "watch", "pendant")]
    main(["eval", "--manifest", str(labelled / "manifest.csv"), "--json", str(out)] + sum((["--label-map", m] for m in maps), []))
    report = json.loads(out.read_text())
    assert report["type"]["accuracy"] == pytest.approx(8 / 9)


def test_eval_reports_a_bad_manifest_clearly(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("file,type\na.jpg,ring\n")
    assert main(["eval", "--manifest", str(tmp_path / "m.csv")]) == 2
    assert "no 'path' column" in capsys.readouterr().err


def test_bench_reports_the_public_keys(labelled, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--images", str(labelled), "--n", "6", "--json", str(out), "--batch-size", "4"]) == 0
    result = json.loads(out.read_text())
    assert result["images_per_second"] > 0 and result["embedding_images_per_second"] > 0
    assert result["peak_rss_mb"] > 0 and "embedding" in result["stage_ms"]


def test_eval_scores_the_detector_it_is_given(tmp_path):
    candidate = tmp_path / "candidate.pt"
    shutil.copy(DEFAULT_DETECTOR_PATH, candidate)
    pipeline = _pipeline(argparse.Namespace(device="cpu", batch_size=4, type_head=None, detector=str(candidate)))
    assert pipeline.config.detector_weights == str(candidate)
    assert _pipeline(argparse.Namespace(device="cpu", batch_size=4, type_head=None, detector=None)).config.detector_weights is None
