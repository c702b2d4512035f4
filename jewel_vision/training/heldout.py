"""Write the held-out splits of ``../shared/datasets`` as manifests for ``jewel-vision eval``.

Every model is trained with a fixed split by ``group_id`` (jewelry-types: stored in the
type head's metadata) or by photo session (ring-hands: the detector's split). This
writes exactly those held-out rows, with the public manifest columns, so that

    python -m jewel_vision.training.heldout --out var/heldout
    jewel-vision eval --manifest var/heldout/jewelry-types.csv --json types.json
    jewel-vision eval --manifest var/heldout/ring-hands.csv --json rings.json

scores the pipeline on photos none of its models saw in training. Paths are absolute,
so the manifests can live anywhere; nothing is copied.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Sequence

from .common import log

__all__ = ["write_heldout_manifests"]


def _datasets(root: str | os.PathLike[str] | None) -> Path:
    from .data import default_data_root

    return Path(root) if root else Path(default_data_root())


def jewelry_types_rows(datasets: Path) -> list[dict[str, str]]:
    """The type head's validation photos (split by group, stored with the head)."""
    from jewel_vision.vision.models.type_classifier import TypeClassifier

    held = set(TypeClassifier().metadata["split"]["validation_paths"])
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
    from .data import heldout_ring_rows

    out = []
    for r in heldout_ring_rows(datasets, seed=seed):
        boxes = ";".join(
            f"{(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} {x1 - x0:.6f} {y1 - y0:.6f}" for x0, y0, x1, y1 in r.boxes
        )
        out.append({"path": r.path, "type": "ring", "mask_path": r.mask_path, "boxes_yolo_norm": boxes})
    return out


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_heldout_manifests(out_dir: str | os.PathLike[str], datasets: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Write ``jewelry-types.csv`` and ``ring-hands.csv`` into ``out_dir``; returns their paths."""
    root = _datasets(datasets)
    out = Path(out_dir)
    written = {}
    for name, rows in (("jewelry-types", jewelry_types_rows(root)), ("ring-hands", ring_hands_rows(root))):
        path = out / f"{name}.csv"
        _write(path, rows)
        log(f"{path}: {len(rows)} held-out photos")
        written[name] = path
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="var/heldout", help="folder for the manifests")
    parser.add_argument("--data", default=None, help="datasets folder (default: ../shared/datasets)")
    args = parser.parse_args(argv)
    write_heldout_manifests(args.out, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
