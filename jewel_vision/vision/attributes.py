"""Colour and material attributes from an item mask (rules, no training), and :func:`describe`,
which gives every attribute of one piece from one preparation.

Everything here is deterministic colour/geometry arithmetic on the pixels inside
an item mask (usually from :class:`~jewel_vision.vision.predictors.segmenter.ItemSegmenter`).
No network is run. The numbers (thresholds, prototypes) were chosen on drawn
swatches and checked on hand-labelled catalogue photos; the method, the check
sets and the measured accuracy are in ``vision/weights/ATTRIBUTES_CARD.md``.

Public functions (all take a PIL image and an item mask ``[H, W]``, float 0..1 or
bool, at the image's size; ``None`` means "the whole image"):

``material_regions(image, item_mask)``
    ``[Region("item"), Region("metal"), Region("stone")]`` (metal/stone only when
    non-empty): pixels of the item split by colour clustering in CIE Lab.
``metal_tone(image, item_mask, metal_mask=None)`` (in :mod:`.metal_tone`)
    facet ``metal_tone``: yellow / white / rose, three tags summing to 1.
``colours(image, item_mask)``
    facet ``colour``: named colours of the item with the share of its pixels each covers
    (``TagPrediction.coverage``; the tag's confidence is :func:`colour_confidence` of it).
``shape_and_texture(image, item_mask)`` (in :mod:`.shape_texture`)
    facets ``shape`` (outline of the largest part) and ``texture``.

Vocabulary decision (honest by construction): the colour of a metal says
nothing reliable about what it is made of -- 9k and 22k gold, gold plating,
brass and bronze are all "yellow"; silver, white gold, platinum, rhodium-plated
anything and steel are all "white". So this module never emits facet ``metal``
(gold/silver/platinum); that must come from a hallmark (OCR of "750", "925",
"PT950" ...) or from shop data. It emits ``metal_tone`` only, and ``colour``
uses the colour words gold/silver/rose for metal pixels, which describe a
colour, not a material.

Limits (see the card): a white-metal piece set with diamonds cannot be split
into metal and stone by colour (both are grey/white); specular highlights on
yellow gold can be taken for small white stones; a rose-gold item on a skin
background loses the pixels that look like skin; a yellow stone on yellow gold
is merged into the metal.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .colour import palette_names
from .item_pixels import ATTRIBUTES_MODEL, ATTRIBUTES_VERSION, Prepared, prepare, split_metal_stone
from .mask_codec import mask_to_png
from .metal_tone import metal_features, tone_probs, tone_tags
from .shape_texture import shape_texture_tags
from .types import Region, TagPrediction

__all__ = ["COLOUR_PALETTE", "colour_confidence", "colours", "describe", "dominant_colour", "material_regions"]

COLOUR_PALETTE = (
    "gold", "silver", "rose", "white", "black", "red", "pink", "orange", "yellow",
    "green", "blue", "purple", "brown", "multicolour",
)


def material_regions(
    image: Image.Image,
    item_mask: np.ndarray | None,
    *,
    item_model: str = "item-mask",
    item_model_version: str = "",
) -> list[Region]:
    """Regions ``item``, ``metal`` and ``stone`` (the latter two only when non-empty).

    Masks are single-channel PNGs at the image's size; ``area_fraction`` is the share
    of the whole image. ``item`` is the given mask (``item_model``/``item_model_version``
    name where it came from, e.g. the segmenter); ``metal`` and ``stone`` are split from
    it by :func:`split_metal_stone` and do not cover background-/skin-like pixels,
    blown-out highlights or black ink inside the item mask.
    """
    prep = prepare(image, item_mask)
    metal, stone, _ = split_metal_stone(prep)
    return _regions(prep, metal, stone, item_model, item_model_version)


def _regions(prep: Prepared, metal: np.ndarray, stone: np.ndarray, item_model: str, item_model_version: str,
             item_region: np.ndarray | None = None) -> list[Region]:
    total = float(prep.size[0] * prep.size[1])
    item = prep.full_item if item_region is None else np.asarray(item_region, dtype=bool)
    regions = [
        Region(
            label="item",
            mask_png=mask_to_png(item),
            area_fraction=float(item.sum()) / total,
            model=item_model,
            model_version=item_model_version or ATTRIBUTES_VERSION,
        )
    ]
    for label, work in (("metal", metal), ("stone", stone)):
        full = prep.upsample(work)
        if full.any():
            regions.append(
                Region(
                    label=label,
                    mask_png=mask_to_png(full),
                    area_fraction=float(full.sum()) / total,
                    model=ATTRIBUTES_MODEL,
                    model_version=ATTRIBUTES_VERSION,
                )
            )
    return regions



def _metal_word(tone: str) -> str:
    return {"yellow": "gold", "white": "silver", "rose": "rose"}[tone]


def colour_confidence(coverage: float) -> float:
    """The confidence a colour tag carries, from the share of the piece the colour covers.

    A colour is measured, not predicted: its ``coverage`` says how much of the piece has it,
    not how sure a model is. The shop stores and thresholds every tag's ``confidence`` alike
    (``DISPLAY_THRESHOLD``, ``min_tag_confidence``), so a colour's confidence is its coverage as
    it stands: a colour is shown when it covers at least the threshold's share of the piece.
    This is the one place where a pixel share becomes a tag confidence.
    """
    return float(coverage)


def _colour_tag(value: str, coverage: float) -> TagPrediction:
    return TagPrediction("colour", value, colour_confidence(coverage), ATTRIBUTES_MODEL, ATTRIBUTES_VERSION,
                         coverage=float(coverage))


def colours(image: Image.Image, item_mask: np.ndarray | None, min_fraction: float = 0.08) -> list[TagPrediction]:
    """Facet ``colour``: named colours of the item's pixels, with the share each covers (``coverage``).

    Metal pixels are named after the item's metal tone (gold / silver / rose: colour
    words, not materials); other item pixels (stones, enamel, beads, cord) by hue
    sector, lightness and chroma in Lab. Colours covering at least ``min_fraction``
    of the counted pixels are returned, largest first; ``multicolour`` is added when
    three or more non-metal chromatic colours each pass that bar (coverage: their
    summed share). Each tag's confidence is :func:`colour_confidence` of its coverage. Background-/skin-like pixels inside the mask are not counted.
    """
    prep = prepare(image, item_mask)
    metal, _, _ = split_metal_stone(prep)
    return _colours(prep, metal, min_fraction)


def _colours(prep: Prepared, metal: np.ndarray, min_fraction: float) -> list[TagPrediction]:
    counts: dict[str, float] = {}
    n_metal = int(metal.sum())
    if n_metal:
        tone = max(tone_probs(metal_features(prep, metal)).items(), key=lambda kv: kv[1])[0]
        counts[_metal_word(tone)] = float(n_metal)
    other = prep.core & ~metal
    if other.any():
        names = palette_names(prep.lab[other], prep.rgb[other])
        values, cnts = np.unique(names.astype(str), return_counts=True)
        for v, cnt in zip(values, cnts):
            counts[str(v)] = counts.get(str(v), 0.0) + float(cnt)
    total = sum(counts.values())
    if total <= 0:
        return []
    fractions = {k: v / total for k, v in counts.items()}
    out = [
        _colour_tag(k, f) for k, f in sorted(fractions.items(), key=lambda kv: (-kv[1], kv[0])) if f >= min_fraction
    ]
    chromatic = [
        f for k, f in fractions.items()
        if k not in ("gold", "silver", "rose", "white", "black") and f >= min_fraction
    ]
    if len(chromatic) >= 3:
        out.append(_colour_tag("multicolour", sum(chromatic)))
    return out


def dominant_colour(image: Image.Image, mask: np.ndarray | None) -> tuple[str, float] | None:
    """The most common palette colour (stone words, no metal words) of the pixels in ``mask``."""
    prep = prepare(image, mask)
    sel = prep.core if prep.core.sum() >= 3 else prep.item
    if not sel.any():
        return None
    names = palette_names(prep.lab[sel], prep.rgb[sel]).astype(str)
    values, cnts = np.unique(names, return_counts=True)
    j = int(np.argmax(cnts))
    return str(values[j]), float(cnts[j] / cnts.sum())



def describe(
    image: Image.Image,
    item_mask: np.ndarray | None,
    *,
    item_model: str = "item-mask",
    item_model_version: str = "",
    item_region: np.ndarray | None = None,
) -> tuple[list[Region], list[TagPrediction]]:
    """Everything above from one preparation (faster than four calls).

    Returns (``material_regions``, ``metal_tone`` + ``colour`` + ``shape`` + ``texture`` tags);
    same values as the separate functions. ``item_region``: a full-size mask stored as the
    "item" region instead of ``item_mask`` (the pipeline describes the piece in focus but
    stores all the jewelry in the photo).
    """
    prep = prepare(image, item_mask)
    metal, stone, _ = split_metal_stone(prep)
    regions = _regions(prep, metal, stone, item_model, item_model_version, item_region)
    tags = tone_tags(prep, metal)
    tags += _colours(prep, metal, 0.08) + shape_texture_tags(prep)
    return regions, tags
