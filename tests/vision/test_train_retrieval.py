"""Same-product retrieval training (jewel_vision.training.train_retrieval) end to end, and the item view it embeds.

Every image is drawn here; no dataset files.
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
from PIL import Image

from jewel_vision.training import train_retrieval
from jewel_vision.training.data import cutout_packshot
from jewel_vision.training.train_retrieval import composite
from jewel_vision.vision.pipeline import item_view
from jewel_vision.vision.predictors.retrieval_head import RetrievalHead
from shop.catalog import draw_item


def _drawn(kind: str, metal: str, seed: int) -> Image.Image:
    return draw_item(kind, metal, random.Random(seed), size=256)


def test_item_view_crops_the_worn_piece_or_all_pieces_of_a_packshot():
    class Item:
        def __init__(self, box, score):
            self.box, self.score = box, score

    img = Image.new("RGB", (400, 300), "white")
    assert item_view(img, []) is img
    assert item_view(img, [Item((0.1, 0.1, 0.2, 0.2), 0.5)]) is img  # not confident
    two = [Item((0.1, 0.1, 0.2, 0.2), 0.95), Item((0.5, 0.5, 0.9, 0.9), 0.85)]
    # a packshot (no skin): a crop around every confident piece, the parts of one item
    packshot = item_view(img, two)
    assert packshot.size[0] > 300
    # worn (skin around the piece): a square crop around the most confident piece alone
    worn = item_view(Image.new("RGB", (400, 300), (224, 172, 140)), two)
    assert worn.size[0] < 200 and worn.size == (worn.size[0], worn.size[0])


def _tiny_data_root(root):
    """pcjeweller: 8 products x 2 views (+2 single views); jewelry-types: 12 drawn packshots."""
    kinds, metals = ["ring", "necklace", "earring", "bracelet"], ["gold", "silver"]
    (root / "pcjeweller" / "images").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for g in range(10):
        img = _drawn(kinds[g % 4], metals[g % 2], g)
        img.save(root / "pcjeweller" / "images" / f"p{g}_0.jpg")
        rows.append({"path": f"images/p{g}_0.jpg", "type": kinds[g % 4], "worn": "", "metal_tone": "",
                     "material": "", "group_id": f"g{g}", "source": "pcjeweller"})
        if g < 8:
            cut = cutout_packshot(np.asarray(img), max_side=160)
            composite(cut, Image.new("RGB", (300, 300), (190, 140, 120)), rng).save(
                root / "pcjeweller" / "images" / f"p{g}_1.jpg")
            rows.append({**rows[-1], "path": f"images/p{g}_1.jpg", "worn": "1"})
    with open(root / "pcjeweller" / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (root / "jewelry-types" / "images").mkdir(parents=True)
    with open(root / "jewelry-types" / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "type", "material", "gemstone", "group_id", "source", "width", "height"])
        for i in range(12):
            _drawn(kinds[i % 4], metals[(i // 4) % 2], 100 + i).save(root / "jewelry-types" / "images" / f"j{i}.png")
            w.writerow([f"images/j{i}.png", kinds[i % 4], "", "", f"j{i}", "drawn", 256, 256])


def test_training_script_end_to_end(tmp_path):
    _tiny_data_root(tmp_path / "data")
    out, report = tmp_path / "head.npz", tmp_path / "report.json"
    rc = train_retrieval.main([
        "--data-root", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--report", str(report), "--pieces", "12", "--dims", "16", "--temperatures", "0.1", "--epochs", "3",
        "--no-detector", "--force-save",
    ])
    assert rc == 0
    r = json.loads(report.read_text())
    assert r["head"]["dim"] == 16 and r["synthetic_pairs"] == 12
    for name in ("val", "test", "all (leave-one-source-out)"):
        assert 0.0 <= r["head"][name]["recall@5"] <= 1.0
        assert r["baselines"]["item crop, bare embedding"][name]["n"] == r["head"][name]["n"]
    assert r["head"]["val"]["n"] + r["head"]["test"]["n"] == 16
    assert set(r["pcjeweller"]["val_groups"]).isdisjoint(r["pcjeweller"]["test_groups"])
    assert RetrievalHead(out).dim == 16
