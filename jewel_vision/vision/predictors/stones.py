"""Stones: what kind of stone a piece is set with (facet "stone"), and where.

``StoneClassifier.predict`` runs a small softmax head on an
:class:`~jewel_vision.vision.predictors.embedder.Embedder` embedding of the item
(the image cropped to the item mask's bounding box) and returns facet
``stone`` with values

* ``none``      -- plain metal (or no stone visible),
* ``diamond``   -- clear / colourless stones (diamond, white sapphire, CZ, crystal:
  they are not told apart by a photo),
* ``pearl``     -- pearls (and pearl-like beads),
* ``coloured``  -- coloured gemstones (ruby, emerald, sapphire, onyx, turquoise ...),

one tag per value, probabilities summing to 1, most likely first. When
``coloured`` is the top value (or has probability >= 0.3) an extra tag facet
``stone_colour`` names the dominant colour of the stone region (from
:func:`~jewel_vision.vision.attributes.material_regions`), e.g. "red", "green".

``StoneClassifier.stone_boxes`` turns a stone-region mask into boxes: connected
components (after a small dilation that merges pavé clusters), each labelled by
colour rules: ``coloured_gem`` (chromatic), ``pearl`` (bright, smooth, round,
near-white) or ``diamond`` (other near-white/grey, usually sparkling).

The head is trained by ``python -m jewel_vision.training.train_stones``; the
weights file (``stone_head.npz``, no pickles) holds ``n_layers``, ``W0, b0, ...``,
``classes``, ``embedder`` (the embedder it expects, e.g. "effnet-lite0@imagenet")
and ``metadata`` (JSON). ``version`` is the first 12 hex digits of the file's
SHA-256. Data, measured accuracy and limits: ``vision/weights/ATTRIBUTES_CARD.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..attributes import dominant_colour, material_regions
from ..colour import rgb_to_lab
from ..item_pixels import ATTRIBUTES_VERSION
from ..mask_codec import png_to_mask
from ..types import Detection, Region, TagPrediction
from ._common import file_sha256
from .embedder import Embedder
from .embedding_head import EmbeddingHead

__all__ = ["DEFAULT_STONE_HEAD_PATH", "STONE_CLASSES", "StoneClassifier", "crop_to_item", "save_stone_head"]

DEFAULT_STONE_HEAD_PATH = Path(__file__).resolve().parent.parent / "weights" / "stone_head.npz"
STONE_CLASSES = ("none", "diamond", "pearl", "coloured")
BOX_LABELS = {"diamond": "diamond", "pearl": "pearl", "coloured": "coloured_gem"}


def save_stone_head(
    path: str | os.PathLike[str],
    layers: list[tuple[np.ndarray, np.ndarray]],
    classes: Sequence[str],
    embedder: str,
    metadata: dict[str, Any],
) -> str:
    """Write a head file (float16 weights, compressed); returns its version (file hash[:12])."""
    arrays: dict[str, np.ndarray] = {
        "n_layers": np.asarray(len(layers), dtype=np.int64),
        "classes": np.asarray(list(classes), dtype=np.str_),
        "embedder": np.asarray(embedder, dtype=np.str_),
        "metadata": np.asarray(json.dumps(metadata, sort_keys=True), dtype=np.str_),
    }
    for i, (weight, bias) in enumerate(layers):
        arrays[f"W{i}"] = np.asarray(weight, dtype=np.float16)
        arrays[f"b{i}"] = np.asarray(bias, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)
    return file_sha256(path)[:12]


def crop_to_item(image: Image.Image, item_mask: np.ndarray | None, margin: float = 0.08) -> Image.Image:
    """The image cropped to the item mask's bounding box plus ``margin`` (whole image if no mask)."""
    if item_mask is None:
        return image
    mask = np.asarray(item_mask)
    if mask.dtype != np.bool_:
        mask = mask >= (128 if mask.dtype == np.uint8 else 0.5)
    if mask.shape != (image.size[1], image.size[0]):
        mask = (
            np.asarray(
                Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(image.size, Image.Resampling.NEAREST)
            )
            >= 128
        )
    ys, xs = np.nonzero(mask)
    if len(xs) < 16:
        return image
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = int(margin * (x1 - x0)) + 2, int(margin * (y1 - y0)) + 2
    box = (max(0, x0 - mx), max(0, y0 - my), min(image.size[0], x1 + mx), min(image.size[1], y1 + my))
    return image.crop(tuple(int(v) for v in box))


class StoneClassifier(EmbeddingHead):
    """Stone kind of an item (none / diamond / pearl / coloured) from an embedding head.

    ``embedder``: the :class:`Embedder` to use when ``predict`` is not given an
    embedding (created lazily, ImageNet Lite0, when omitted; it must match the
    head's ``embedder_name``). ``device`` is passed to that embedder.
    """

    name = "stones"
    kind = "stone head"
    trained_by = "python -m jewel_vision.training.train_stones"
    facet = "stone"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
        device: str = "auto",
    ) -> None:
        super().__init__(path if path is not None else DEFAULT_STONE_HEAD_PATH, device=device)
        self._embedder = embedder
        self._version: str | None = None

    @property
    def version(self) -> str:
        """First 12 hex digits of the weights file's SHA-256 (no model load needed)."""
        if self._version is None:
            if not self.path.is_file():
                raise FileNotFoundError(self._missing_message())
            self._version = file_sha256(self.path)[:12]
        return self._version

    def _load_extra(self, data: Any, classes: list[str]) -> None:
        if set(classes) != set(STONE_CLASSES):
            raise ValueError(f"stone head {self.path} has classes {classes}, expected {list(STONE_CLASSES)}")

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(device=self._device_setting)
        return self._embedder

    # -- inference ------------------------------------------------------------------------------
    def embed_item(self, image: Image.Image, item_mask: np.ndarray | None = None) -> np.ndarray:
        """The embedding [1280] this head expects: the image cropped to the item."""
        return self._get_embedder().embed([crop_to_item(image.convert("RGB"), item_mask)])[0]

    def predict(
        self,
        image: Image.Image,
        item_mask: np.ndarray | None = None,
        regions: Sequence[Region] | None = None,
        embedding: np.ndarray | None = None,
    ) -> list[TagPrediction]:
        """Facet ``stone`` (all four values, most likely first) and, for coloured stones, ``stone_colour``.

        ``embedding``: an embedding of the item crop (or of a tight packshot) from the
        head's embedder, to skip embedding here. ``regions``: the output of
        :func:`material_regions` (its "stone" region gives the stone colour); computed
        here when needed and ``item_mask`` is given.
        """
        version = self.version
        if embedding is None:
            embedding = self.embed_item(image, item_mask)
        probs = self.predict_proba(embedding)[0]
        if regions is not None and not any(r.label == "stone" for r in regions):
            # A coloured gem is chromatic, so the colour split of the item finds it; when it
            # found no stone pixels, skin or a coloured background fooled the head (seen on
            # worn rings). Half of the "coloured" belief goes to "none".
            c, n = self._classes.index("coloured"), self._classes.index("none")
            probs = probs.copy()
            probs[n] += probs[c] / 2
            probs[c] /= 2
        order = np.argsort(-probs, kind="stable")
        tags = [
            TagPrediction(self.facet, self._classes[j], float(probs[j]), self.name, version) for j in order
        ]
        p_coloured = float(probs[self._classes.index("coloured")])
        if tags[0].value == "coloured" or p_coloured >= 0.3:
            colour = self._stone_colour(image, item_mask, regions)
            if colour is not None:
                name, fraction = colour
                tags.append(TagPrediction("stone_colour", name, p_coloured * fraction, self.name, version))
        return tags

    def _stone_colour(
        self, image: Image.Image, item_mask: np.ndarray | None, regions: Sequence[Region] | None
    ) -> tuple[str, float] | None:
        if regions is None:
            regions = material_regions(image, item_mask)
        stone = next((r for r in regions if r.label == "stone"), None)
        if stone is None:
            return None
        mask = png_to_mask(stone.mask_png)
        if mask.shape != (image.size[1], image.size[0]) or mask.sum() < 9:
            return None
        found = dominant_colour(image, mask)
        if found is None or found[0] in ("gold", "silver", "rose"):
            return None
        return found

    # -- boxes ----------------------------------------------------------------------------------
    def stone_boxes(
        self,
        image: Image.Image,
        stone_region_mask: np.ndarray | bytes | None,
        min_area_fraction: float = 0.0005,
        max_boxes: int = 30,
    ) -> list[Detection]:
        """Boxes (normalised x0, y0, x1, y1) of the stone region's connected parts.

        Each part is labelled ``diamond`` / ``pearl`` / ``coloured_gem`` by colour rules
        (see the module docstring); ``score`` is how clearly the rule fired (0..1), not a
        detector probability. Parts smaller than ``min_area_fraction`` of the image are
        dropped; at most ``max_boxes``, largest first. Does not need the weights file.
        """
        from scipy import ndimage

        if stone_region_mask is None:
            return []
        if isinstance(stone_region_mask, (bytes, bytearray)):
            mask = png_to_mask(bytes(stone_region_mask))
        else:
            mask = np.asarray(stone_region_mask)
            if mask.dtype != np.bool_:
                mask = mask >= (128 if mask.dtype == np.uint8 else 0.5)
        img = image.convert("RGB")
        width, height = img.size
        if mask.shape != (height, width):
            mask = (
                np.asarray(Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize((width, height), Image.NEAREST))
                >= 128
            )
        if not mask.any():
            return []
        # work on the mask's bounding box only (plus the dilation and filter margin)
        grow = max(1, int(round(0.004 * max(width, height))))
        ys, xs = np.nonzero(mask)
        pad = grow + 6
        bx0, by0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
        bx1, by1 = min(width, int(xs.max()) + 1 + pad), min(height, int(ys.max()) + 1 + pad)
        sub = mask[by0:by1, bx0:bx1]
        merged = ndimage.binary_dilation(sub, iterations=grow)
        labels, n = ndimage.label(merged)
        if n == 0:
            return []
        objects = ndimage.find_objects(labels)
        lum = rgb_to_lab(np.asarray(img)[by0:by1, bx0:bx1])
        hf = np.abs(lum[..., 0] - ndimage.gaussian_filter(lum[..., 0], 1.5))
        mask = sub
        total = float(width * height)
        found: list[tuple[float, Detection]] = []
        for idx, sl in enumerate(objects, start=1):
            if sl is None:
                continue
            part = (labels[sl] == idx) & mask[sl]
            area = float(part.sum())
            if area < max(4.0, min_area_fraction * total):
                continue
            lab = lum[sl][part]
            chroma = float(np.median(np.hypot(lab[:, 1], lab[:, 2])))
            light = float(np.median(lab[:, 0]))
            texture = float(np.mean(hf[sl][part]))
            ys, xs = np.nonzero(part)
            h_px, w_px = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            roundness = area / (np.pi / 4 * h_px * w_px)  # 1 for a filled ellipse in its box
            if chroma >= 15:
                label, score = "coloured_gem", min(1.0, 0.5 + (chroma - 15) / 40)
            elif light > 70 and texture < 3.0 and roundness > 0.8 and 0.6 < w_px / h_px < 1.6:
                label, score = "pearl", min(1.0, 0.4 + 0.1 * (3.0 - texture) + 0.2 * (roundness - 0.8) / 0.2)
            else:
                label, score = "diamond", min(1.0, 0.4 + texture / 15)
            y0 = sl[0].start + by0 + int(ys.min())
            x0 = sl[1].start + bx0 + int(xs.min())
            y1, x1 = y0 + int(h_px), x0 + int(w_px)
            box = (x0 / width, y0 / height, x1 / width, y1 / height)
            found.append((area, Detection(label, box, float(score), "stone-rules", ATTRIBUTES_VERSION)))
        found.sort(key=lambda t: -t[0])
        return [d for _, d in found[:max_boxes]]
