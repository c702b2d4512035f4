"""Demo catalogue sources: a folder of photos, a manifest, or generated drawings."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def datasets_dir() -> Path | None:
    """``$JEWEL_VISION_DATASETS``, else ``../shared/datasets`` beside the checkout or the working directory."""
    import os

    candidates = [os.environ.get("JEWEL_VISION_DATASETS")]
    candidates += [str(Path(__file__).resolve().parent.parent.parent / "shared" / "datasets")]
    candidates += [str(Path.cwd().parent / "shared" / "datasets")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@dataclass
class CatalogItem:
    key: str
    name: str
    kind: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)


def from_manifest(manifest: Path, limit: int, seed: int = 0) -> list[CatalogItem]:
    """One product per ``group_id`` of a manifest with ``path`` and ``type`` columns, balanced over types."""
    groups: dict[str, list[dict]] = defaultdict(list)
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh):
            groups[row.get("group_id") or row["path"]].append(row)
    by_type: dict[str, list[str]] = defaultdict(list)
    for gid, rows in sorted(groups.items()):
        by_type[rows[0].get("type", "") or "item"].append(gid)
    rng = random.Random(seed)
    for gids in by_type.values():
        rng.shuffle(gids)
    chosen: list[str] = []
    while len(chosen) < limit and any(by_type.values()):
        for kind in sorted(by_type):
            if by_type[kind] and len(chosen) < limit:
                chosen.append(by_type[kind].pop())
    items = []
    for gid in chosen:
        rows = groups[gid]
        kind = rows[0].get("type", "") or "item"
        photos = [(Path(r["path"]).name, (manifest.parent / r["path"]).read_bytes()) for r in rows[:4]]
        items.append(CatalogItem(key=f"{manifest.parent.name}-{gid}", name=f"{kind.title()} {gid[:6]}", kind=kind, photos=photos))
    return items


def from_folder(folder: Path, limit: int) -> list[CatalogItem]:
    """A folder of photos: one product per photo; a sub-folder name is taken as the type."""
    if (folder / "manifest.csv").exists():
        return from_manifest(folder / "manifest.csv", limit)
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        if len(items) >= limit:
            break
        kind = path.parent.name if path.parent != folder else ""
        key = hashlib.sha1(str(path.relative_to(folder)).encode()).hexdigest()[:10]
        items.append(CatalogItem(key=key, name=path.stem.replace("_", " ").title()[:80], kind=kind, photos=[(path.name, path.read_bytes())]))
    return items


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


METALS = {"gold": (212, 175, 55), "silver": (200, 200, 205), "rose gold": (214, 150, 130)}


def draw_item(kind: str, metal: str, rng: random.Random, size: int = 384) -> Image.Image:
    """A simple packshot-style drawing of a jewelry piece on a light background."""
    bg = tuple(rng.randint(235, 255) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    colour = METALS[metal]
    dark = tuple(int(c * 0.7) for c in colour)
    c = size // 2
    if kind == "ring":
        r = rng.randint(70, 100)
        d.ellipse((c - r, c - r // 2, c + r, c + r), outline=colour, width=18)
        d.ellipse((c - r + 9, c - r // 2 + 9, c + r - 9, c + r - 9), outline=dark, width=3)
        d.polygon([(c - 22, c - r // 2 - 5), (c, c - r // 2 - 40), (c + 22, c - r // 2 - 5)], fill=(235, 245, 255), outline=(150, 160, 180))
    elif kind == "necklace":
        d.arc((40, -120, size - 40, size - 70), 20, 160, fill=colour, width=8)
        d.ellipse((c - 25, size - 120, c + 25, size - 60), fill=(180, 20, 40), outline=colour, width=6)
    elif kind == "earring":
        for x in (c - 80, c + 80):
            d.line((x, 80, x, 170), fill=colour, width=6)
            d.ellipse((x - 30, 170, x + 30, 240), outline=colour, width=10)
    else:  # bracelet
        d.ellipse((60, 110, size - 60, size - 110), outline=colour, width=22)
        for i in range(12):
            a = 2 * math.pi * i / 12
            x, y = c + (c - 60) * math.cos(a), c + (c - 110) * math.sin(a)
            d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=dark)
    return img.filter(ImageFilter.GaussianBlur(0.8))


def generated(limit: int, seed: int = 0) -> list[CatalogItem]:
    """A small drawn catalogue for machines without any photos."""
    rng = random.Random(seed)
    kinds = ["ring", "necklace", "earring", "bracelet"]
    items = []
    for i in range(limit):
        kind = kinds[i % len(kinds)]
        metal = list(METALS)[(i // len(kinds)) % len(METALS)]
        photos = [(f"{kind}-{i}-{v}.jpg", _jpeg(draw_item(kind, metal, rng))) for v in range(2)]
        items.append(CatalogItem(key=f"gen-{i}", name=f"{metal.title()} {kind} no. {i + 1}", kind=kind, photos=photos))
    return items


def default_source(limit: int) -> tuple[str, list[CatalogItem]]:
    root = datasets_dir()
    manifest = root / "jewelry-types" / "manifest.csv" if root else None
    if manifest is not None and manifest.exists():
        return str(manifest.parent), from_manifest(manifest, limit)
    return "generated drawings", generated(limit)


def iter_items(directory: str | None, limit: int) -> tuple[str, Iterator[CatalogItem]]:
    if directory:
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"{directory} is not a folder")
        return str(folder), iter(from_folder(folder, limit))
    label, items = default_source(limit)
    return label, iter(items)
