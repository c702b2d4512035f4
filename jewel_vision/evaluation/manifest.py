"""Reading an evaluation manifest: a CSV with ``path`` and any subset of label columns."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

LABEL_COLUMNS = ("type", "metal_tone", "gemstone", "group_id", "mask_path", "boxes_yolo_norm", "text")
Box = tuple[float, float, float, float]


class ManifestError(ValueError):
    """The manifest cannot be used (missing file, missing ``path`` column, bad cell)."""


@dataclass
class Row:
    path: Path
    type: str | None = None
    metal_tone: str | None = None
    gemstone: frozenset[str] | None = None
    group_id: str | None = None
    mask_path: Path | None = None
    boxes: list[Box] | None = None  # x0, y0, x1, y1 normalised
    text: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_boxes(cell: str) -> list[Box]:
    """``"cx cy w h; cx cy w h"`` (YOLO, normalised) to corner boxes."""
    boxes = []
    for part in cell.split(";"):
        values = part.split()
        if not values:
            continue
        if len(values) != 4:
            raise ManifestError(f"a box needs 4 numbers 'cx cy w h', got {part!r}")
        cx, cy, w, h = (float(v) for v in values)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return boxes


def read_manifest(manifest: str | Path, root: str | Path | None = None) -> tuple[list[Row], list[str]]:
    """Rows and the label columns present. Empty cells mean unlabelled."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ManifestError(f"manifest not found: {manifest}")
    base = Path(root) if root else manifest.parent
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise ManifestError(f"{manifest} has no 'path' column (columns: {', '.join(columns)})")
        present = [c for c in LABEL_COLUMNS if c in columns]
        rows = []
        for n, raw in enumerate(reader, start=2):
            cell = {k: (v or "").strip() for k, v in raw.items() if k}
            if not cell.get("path"):
                continue
            try:
                rows.append(
                    Row(
                        path=base / cell["path"],
                        type=cell.get("type") or None,
                        metal_tone=cell.get("metal_tone") or None,
                        gemstone=frozenset(g.strip().lower() for g in cell["gemstone"].split(";") if g.strip())
                        if cell.get("gemstone")
                        else None,
                        group_id=cell.get("group_id") or None,
                        mask_path=base / cell["mask_path"] if cell.get("mask_path") else None,
                        boxes=parse_boxes(cell["boxes_yolo_norm"]) if cell.get("boxes_yolo_norm") else None,
                        text=cell.get("text") or None,
                        extra={k: v for k, v in cell.items() if k not in LABEL_COLUMNS and k != "path"},
                    )
                )
            except (ManifestError, ValueError) as exc:
                raise ManifestError(f"{manifest}, line {n}: {exc}") from exc
    return rows, present


def parse_label_maps(pairs: list[str] | None) -> dict[str, str]:
    """``["pendant=necklace", "chain=necklace"]`` to a mapping; applied to truth and predictions."""
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ManifestError(f"--label-map needs FROM=TO, got {pair!r}")
        mapping[source.strip()] = target.strip()
    return mapping
