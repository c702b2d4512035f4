"""Plain data types returned by the vision pipeline.

Nothing here imports Django or torch, so these types can be used by the web
side, by workers and by tests without loading any model.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "AnalysisResult",
    "Detection",
    "Embedding",
    "ImageDecodeError",
    "STONE_LABELS",
    "Region",
    "TagPrediction",
    "TextFinding",
]

Box = tuple[float, float, float, float]

#: Labels of stone detections (the rest are pieces of jewelry, labelled with their type).
STONE_LABELS = frozenset({"diamond", "pearl", "coloured_gem", "stone", "gem"})


class ImageDecodeError(ValueError):
    """The input could not be decoded safely as an image.

    The message is meant for people (shop staff, API clients), e.g.
    ``"not an image: cannot identify image file"``, ``"image is truncated"``,
    ``"image too large: 144000000 pixels exceeds limit 60000000"`` or
    ``"empty file"``.
    """


@dataclass(frozen=True)
class TagPrediction:
    """One value of one facet, e.g. facet="type", value="ring"."""

    facet: str  # "type", "metal", "metal_tone", "stone", "style", "hallmark", "colour", "purity"
    value: str
    confidence: float
    model: str
    model_version: str
    #: The label's own confidence threshold, chosen on validation data and stored with
    #: the model: at or above it the tag may be shown to shoppers without review.
    #: None: the model has none (the shop's per-facet DISPLAY_THRESHOLD applies).
    threshold: float | None = None
    #: Tags measured off the pixels rather than predicted (facet "colour"): the share (0-1) of
    #: the piece's counted pixels that have this value. Not a probability; ``confidence`` is made
    #: from it in one place, :func:`jewel_vision.vision.attributes.colour_confidence`.
    #: None for predicted tags.
    coverage: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "facet": self.facet,
            "value": self.value,
            "confidence": float(self.confidence),
            "model": self.model,
            "model_version": self.model_version,
            "threshold": None if self.threshold is None else float(self.threshold),
        }
        if self.coverage is not None:  # only measured tags carry it (results stored before it read the same)
            out["coverage"] = float(self.coverage)
        return out


@dataclass(frozen=True)
class Detection:
    """An object found in the image; ``box`` is (x0, y0, x1, y1) normalised to 0-1."""

    label: str
    box: Box
    score: float
    model: str
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "box": [float(v) for v in self.box],
            "score": float(self.score),
            "model": self.model,
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class Region:
    """A segmented region; ``mask_png`` is a single-channel PNG the size of the analysed image."""

    label: str
    mask_png: bytes
    area_fraction: float
    model: str
    model_version: str

    def to_dict(self, include_mask: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "area_fraction": float(self.area_fraction),
            "model": self.model,
            "model_version": self.model_version,
        }
        if include_mask:
            out["mask_png_base64"] = base64.b64encode(self.mask_png).decode("ascii")
        return out


@dataclass(frozen=True)
class TextFinding:
    """Text read from the image (e.g. a hallmark stamp such as "750" or "925")."""

    raw: str
    normalised: str
    box: Box | None
    score: float
    engine: str
    metal: str | None = None
    purity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "normalised": self.normalised,
            "box": None if self.box is None else [float(v) for v in self.box],
            "score": float(self.score),
            "engine": self.engine,
            "metal": self.metal,
            "purity": None if self.purity is None else float(self.purity),
        }


@dataclass(frozen=True, eq=False)
class Embedding:
    """An image embedding: 1-D float32, L2-normalised."""

    vector: np.ndarray
    model: str
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "vector": [float(v) for v in np.asarray(self.vector, dtype=np.float32).ravel()],
            "model": self.model,
            "model_version": self.model_version,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Embedding):
            return NotImplemented
        return (
            self.model == other.model
            and self.model_version == other.model_version
            and np.array_equal(self.vector, other.vector)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class AnalysisResult:
    """Everything the pipeline found in one image.

    ``width``/``height`` are those of the analysed (decoded, EXIF-rotated,
    downscaled) image; normalised boxes refer to it.
    """

    tags: list[TagPrediction]
    detections: list[Detection]
    regions: list[Region]
    texts: list[TextFinding]
    embedding: Embedding | None
    timings_ms: dict[str, float]
    model_versions: dict[str, str]
    width: int
    height: int

    def to_dict(self, include_masks: bool = False, include_embedding: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict (the vector as a list; masks omitted unless asked, then base64)."""
        return {
            "tags": [t.to_dict() for t in self.tags],
            "detections": [d.to_dict() for d in self.detections],
            "regions": [r.to_dict(include_mask=include_masks) for r in self.regions],
            "texts": [t.to_dict() for t in self.texts],
            "embedding": (
                self.embedding.to_dict() if (self.embedding is not None and include_embedding) else None
            ),
            "timings_ms": {k: float(v) for k, v in self.timings_ms.items()},
            "model_versions": dict(self.model_versions),
            "width": int(self.width),
            "height": int(self.height),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnalysisResult":
        """The result :meth:`to_dict` wrote (masks only where it included them), e.g. from a worker."""
        emb = data.get("embedding")
        return cls(
            tags=[TagPrediction(**t) for t in data["tags"]],
            detections=[Detection(**{**d, "box": tuple(d["box"])}) for d in data["detections"]],
            regions=[
                Region(
                    label=r["label"], mask_png=base64.b64decode(r.get("mask_png_base64") or ""),
                    area_fraction=r["area_fraction"], model=r["model"], model_version=r["model_version"],
                )
                for r in data["regions"]
            ],
            texts=[TextFinding(**{**t, "box": None if t["box"] is None else tuple(t["box"])}) for t in data["texts"]],
            embedding=None if emb is None else Embedding(
                vector=np.asarray(emb["vector"], dtype=np.float32), model=emb["model"], model_version=emb["model_version"]
            ),
            timings_ms=dict(data["timings_ms"]),
            model_versions=dict(data["model_versions"]),
            width=int(data["width"]),
            height=int(data["height"]),
        )

    def pieces(self) -> list[Detection]:
        """Detections of pieces of jewelry (not of the stones set in them)."""
        return [d for d in self.detections if d.label not in STONE_LABELS]

    def tags_for(self, facet: str) -> list[TagPrediction]:
        """Tags of one facet, most confident first."""
        return sorted((t for t in self.tags if t.facet == facet), key=lambda t: -t.confidence)
