"""Write the held-out splits of ``../shared/datasets`` as manifests for ``jewel-vision eval``.

Every model is trained with a fixed split by ``group_id`` (jewelry-types: stored in the
type head's metadata) or by photo session (ring-hands: the detector's split). This
writes exactly those held-out rows, with the public manifest columns, so that

    python -m jewel_vision.training.heldout --out var/heldout
    jewel-vision eval --manifest var/heldout/jewelry-types.csv --json types.json
    jewel-vision eval --manifest var/heldout/ring-hands.csv --json rings.json

scores the pipeline on photos none of its models saw in training. Paths are absolute,
so the manifests can live anywhere; nothing is copied into the repository.

The data sets hold one photo per product (every ``group_id`` is unique), so same-product
retrieval cannot be measured on them as they are. ``--views`` writes a *proxy*: for each
held-out catalogue photo a second, synthetic view of the same product (a different crop,
mirrored, rotated a few degrees, other light and colour balance) under ``OUT/views/``,
and ``jewelry-types-views.csv`` grouping the two. Recall@k there says how well the
embedding finds a product again from a different shot of it; real second views (another
angle, another photographer) are harder.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Sequence

from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.predictors.type_classifier import TypeClassifier

from .common import AugmentSpec, augment, log
from .data import default_data_root, heldout_ring_rows
from .people_compositing import people_split
from .type_sources import PCJ_LABELS, read_people

__all__ = ["write_heldout_manifests"]


def _datasets(root: str | os.PathLike[str] | None) -> Path:
    return Path(root) if root else Path(default_data_root())


def jewelry_types_rows(datasets: Path) -> list[dict[str, str]]:
    """The type head's test photos (split by group, stored with the head; no decision read them)."""
    split = TypeClassifier().metadata["split"]
    held = set(split.get("test_paths") or split["validation_paths"])
    folder = datasets / "jewelry-types"
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"] in held]
    return [
        {
            "path": str(folder / r["path"]),
            "type": r.get("type", ""),
            "gemstone": r.get("gemstone", ""),
            "group_id": r.get("group_id", ""),
        }
        for r in rows
    ]


def ring_hands_rows(datasets: Path, seed: int = 0) -> list[dict[str, str]]:
    """The detector's held-out ring photos (whole sessions; wristwear rows left out)."""
    out = []
    for r in heldout_ring_rows(datasets, seed=seed):
        boxes = ";".join(
            f"{(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} {x1 - x0:.6f} {y1 - y0:.6f}" for x0, y0, x1, y1 in r.boxes
        )
        out.append({"path": r.path, "type": "ring", "mask_path": r.mask_path, "boxes_yolo_norm": boxes})
    return out


def source_rows(datasets: Path) -> dict[str, list[dict[str, str]]]:
    """Whole sources, for scoring a leave-one-source-out head through the pipeline.

    ``pcjeweller-packshot`` / ``pcjeweller-worn``: a third shop's photos (types mapped to
    ours, nose pins left out; ``group_id`` is the SKU, so retrieval over real second views
    is scored too); ``people-parsing-worn``: street photos in which exactly one type of
    jewelry is marked (``-test-half``: only the people ``people_compositing.people_split`` keeps
    out of the detector's street-photo tuning).
    """
    out: dict[str, list[dict[str, str]]] = {"pcjeweller-packshot": [], "pcjeweller-worn": []}
    folder = datasets / "pcjeweller"
    if (folder / "manifest.csv").is_file():
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["type"] in PCJ_LABELS:
                    name = "pcjeweller-worn" if r.get("worn") == "1" else "pcjeweller-packshot"
                    out[name].append({"path": str(folder / r["path"]), "type": PCJ_LABELS[r["type"]],
                                      "group_id": r["group_id"]})
    out["people-parsing-worn"] = [
        {"path": str(p.path), "type": next(k for k, v in p.jewelry.items() if v >= 40), "group_id": p.name}
        for p in read_people(datasets) if sum(v >= 40 for v in p.jewelry.values()) == 1
    ]
    # the people a detector tuned on street photos never saw (tune_detector_people trains on the other half)
    out["people-parsing-worn-test-half"] = [r for r in out["people-parsing-worn"]
                                            if people_split(r["group_id"]) == "test"]
    return {k: v for k, v in out.items() if v}


def synthetic_views(rows: list[dict[str, str]], out_dir: Path, seed: int = 0) -> list[dict[str, str]]:
    """Each row plus one synthetic second view of it, written as JPEG under ``out_dir``."""
    import numpy as np
    from PIL import Image

    spec = AugmentSpec(flip=0.5, min_area=0.6, brightness=0.25, contrast=0.25, saturation=0.25, hue=0.02)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for k, row in enumerate(rows):
        rng = np.random.default_rng([seed, k])
        img = augment(load_image(row["path"]), rng, spec)
        img = img.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(255, 255, 255))
        path = out_dir / f"view-{k:04d}.jpg"
        img.save(path, "JPEG", quality=int(rng.integers(80, 95)))
        group = row["group_id"] or f"row{k}"
        out.append({"path": row["path"], "type": row["type"], "group_id": group})
        out.append({"path": str(path.resolve()), "type": row["type"], "group_id": group})
    return out


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_heldout_manifests(
    out_dir: str | os.PathLike[str], datasets: str | os.PathLike[str] | None = None, *, views: bool = False
) -> dict[str, Path]:
    """Write ``jewelry-types.csv``, ``ring-hands.csv``, the whole-source manifests of
    :func:`source_rows` (and the retrieval proxy) into ``out_dir``."""
    root = _datasets(datasets)
    out = Path(out_dir)
    written = {}
    for name, rows in (("jewelry-types", jewelry_types_rows(root)), ("ring-hands", ring_hands_rows(root))):
        path = out / f"{name}.csv"
        _write(path, rows)
        log(f"{path}: {len(rows)} held-out photos")
        written[name] = path
    for name, rows in source_rows(root).items():
        path = out / f"{name}.csv"
        _write(path, rows)
        log(f"{path}: {len(rows)} photos of a whole source (score it with a head that left it out)")
        written[name] = path
    if views:
        rows = synthetic_views(jewelry_types_rows(root), out / "views")
        path = out / "jewelry-types-views.csv"
        _write(path, rows)
        log(f"{path}: {len(rows) // 2} held-out photos, each with a synthetic second view")
        written["jewelry-types-views"] = path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="var/heldout", help="folder for the manifests")
    parser.add_argument("--data", default=None, help="datasets folder (default: ../shared/datasets)")
    parser.add_argument("--views", action="store_true", help="also write the synthetic-second-view retrieval proxy")
    args = parser.parse_args(argv)
    write_heldout_manifests(args.out, args.data, views=args.views)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
