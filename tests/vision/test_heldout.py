"""The held-out manifests for ``jewel-vision eval`` hold exactly what no model trained on."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jewel_vision.training.data import default_data_root, read_ring_hands, split_ring_hands
from jewel_vision.training.heldout import write_heldout_manifests
from jewel_vision.vision.predictors.type_classifier import TypeClassifier

DATA = default_data_root()
pytestmark = pytest.mark.skipif(not (DATA / "jewelry-types" / "manifest.csv").is_file(), reason="no ../shared/datasets")


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_manifests_are_the_held_out_splits(tmp_path):
    out = write_heldout_manifests(tmp_path, views=True)
    types = _rows(out["jewelry-types"])
    meta = TypeClassifier().metadata["split"]
    assert {r["path"].split("jewelry-types/", 1)[1] for r in types} == set(meta["test_paths"])

    # whole sources, for a head that left them out (jewel-vision eval --type-head ...)
    pcj = _rows(out["pcjeweller-packshot"]) + _rows(out["pcjeweller-worn"])
    assert pcj and {r["type"] for r in pcj} <= {"ring", "earring", "bracelet", "necklace"}
    assert len({r["group_id"] for r in pcj}) < len(pcj)  # real second views of a product
    people = _rows(out["people-parsing-worn"])
    assert people and all(r["type"] in {"bracelet", "necklace", "ring", "watch", "earring"} for r in people)

    rings = _rows(out["ring-hands"])
    train, _ = split_ring_hands(read_ring_hands(DATA), seed=0)
    trained_on = {r.path for r in train}
    assert rings and not trained_on & {r["path"] for r in rings}
    assert all(r["type"] == "ring" and r["boxes_yolo_norm"] and r["mask_path"] for r in rings)

    views = _rows(out["jewelry-types-views"])
    assert len(views) == 2 * len(types)
    by_group: dict[str, list[str]] = {}
    for r in views:
        by_group.setdefault(r["group_id"], []).append(r["path"])
    assert all(len(paths) >= 2 for paths in by_group.values())
    synthetic = [r["path"] for r in views if "/views/" in r["path"]]
    assert len(synthetic) == len(types) and all(Path(p).is_file() for p in synthetic)
