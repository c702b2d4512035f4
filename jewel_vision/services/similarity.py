"""Similar items, complete the look, and product cards.

Similar items is visual similarity (the vector index) re-ranked with the tags,
meaning what shoppers mean by "similar":

* the same design in another metal or colour ranks high (a very close
  picture whose metal, metal tone or colour tag differs);
* otherwise similar designs of the same type (another type is pushed down);
* never the product itself (excluded inside the index query);
* not ten near-copies of one item: maximal marginal relevance over the
  candidates' own vectors, and near-identical pictures collapsed.

Complete the look picks pieces of *other* types that go with this one, with
the same metal tone (filtered in the index) and preferably the same style,
one type at a time (earrings, then a bracelet, then a ring for a necklace).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from celery import current_app
from celery.exceptions import TimeoutError as CeleryTimeoutError
from PIL import Image

from jewel_vision.conf import jv_settings
from jewel_vision.index import Filters, ProductHit, get_index
from jewel_vision.index.products import (
    ProductTags,
    first_image_urls,
    in_stock_of,
    price_of,
    products_by_id,
    title_of,
    url_of,
    visible_tags,
)
from jewel_vision.models import Analysis, StoredEmbedding
from jewel_vision.registry import configured_pipeline, image_content_type
from jewel_vision.services import photos, search
from jewel_vision.vision.types import AnalysisResult, Embedding, ImageDecodeError

logger = logging.getLogger(__name__)

#: Visual similarity above which two products are "the same design".
SAME_DESIGN = 0.85
#: Added to a variant's score (same design, another metal or colour), so variants lead the list.
VARIANT_BONUS = 0.2
#: Above this two pictures are near-copies: only one is shown.
NEAR_COPY = 0.97
#: Trade-off between relevance and diversity in MMR (1 = relevance only).
MMR_LAMBDA = 0.75

#: Types that go with each type, best first (complete the look).
GOES_WITH: dict[str, tuple[str, ...]] = {
    "necklace": ("earring", "bracelet", "ring"),
    "pendant": ("earring", "bracelet", "ring"),
    "earring": ("necklace", "pendant", "bracelet", "ring"),
    "ring": ("earring", "bracelet", "necklace", "pendant"),
    "bracelet": ("ring", "earring", "necklace", "watch"),
    "watch": ("bracelet", "ring"),
    "brooch": ("earring", "necklace"),
    "anklet": ("bracelet", "ring"),
}

#: A metal's usual tone, when a product has a metal tag but no metal tone tag.
METAL_TONE = {
    "gold": "yellow",
    "yellow gold": "yellow",
    "white gold": "white",
    "silver": "white",
    "sterling silver": "white",
    "platinum": "white",
    "steel": "white",
    "stainless steel": "white",
    "titanium": "white",
    "rose gold": "rose",
}


@dataclass
class Card:
    """A product as a widget or the API shows it."""

    product: Any
    product_id: str
    score: float
    similarity: float
    reason: str
    tags: ProductTags = field(default_factory=ProductTags)
    image_url: str = ""
    matched_image_id: str = ""

    @property
    def title(self) -> str:
        return title_of(self.product)

    @property
    def url(self) -> str:
        return url_of(self.product)

    @property
    def price(self) -> float | None:
        return price_of(self.product)

    @property
    def in_stock(self) -> bool:
        return in_stock_of(self.product)

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, "")

    def as_dict(self) -> dict:
        return {
            "id": self.product_id,
            "title": self.title,
            "url": self.url,
            "image": self.image_url,
            "price": self.price,
            "in_stock": self.in_stock,
            "score": round(float(self.score), 4),
            "similarity": round(float(self.similarity), 4),
            "reason": self.reason,
            "tags": self.tags.as_list(),
        }


REASONS = {
    "other_metal": "Same design, another metal",
    "other_colour": "Same design, another colour",
    "similar_design": "Similar design",
    "other_type": "Similar look",
    "goes_with": "Goes with it",
    "viewed": "Because you viewed similar pieces",
    "new": "New in",
    "photo_match": "Matches your photo",
}


# -- vectors ---------------------------------------------------------------------------------
def product_vectors(product_ids: Iterable[str]) -> dict[str, np.ndarray]:
    """Each product's photos' embeddings (current, finished analyses), as (n, dim) arrays."""
    ids = list(dict.fromkeys(str(p) for p in product_ids))
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    if not ids:
        return {}
    rows = StoredEmbedding.objects.filter(
        analysis__image_type=image_content_type(),
        analysis__product_id__in=ids,
        analysis__is_current=True,
        analysis__status=Analysis.Status.DONE,
    ).values_list("analysis__product_id", "vector")
    for pid, blob in rows:
        out[pid].append(np.frombuffer(bytes(blob), dtype="<f4"))
    return {pid: np.stack(vs) for pid, vs in out.items()}


def centroid(vectors: np.ndarray) -> np.ndarray | None:
    if vectors is None or len(vectors) == 0:
        return None
    v = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def product_vector(product_id: str) -> np.ndarray | None:
    """One vector for a product: the normalised mean of its photos' embeddings."""
    return centroid(product_vectors([product_id]).get(str(product_id)))


# -- helpers ---------------------------------------------------------------------------------
def tone_of(tags: ProductTags) -> str:
    return tags.top("metal_tone") or METAL_TONE.get(tags.top("metal").lower(), "")


def _cards(hits: Sequence[tuple[str, float, float, str, str]], tags: dict[str, ProductTags], limit: int) -> list[Card]:
    """(product_id, score, similarity, reason, image_id) -> cards of existing products, in order."""
    products = products_by_id(h[0] for h in hits[: limit * 2])
    images = first_image_urls(products)
    cards = []
    for pid, score, sim, reason, image_id in hits:
        product = products.get(pid)
        if product is None:
            continue  # deleted since it was indexed
        cards.append(Card(product, pid, score, sim, reason, tags.get(pid, ProductTags()), images.get(pid, ""), image_id))
        if len(cards) >= limit:
            break
    return cards


def mmr(
    candidates: Sequence[str],
    relevance: dict[str, float],
    vectors: dict[str, np.ndarray],
    limit: int,
    *,
    lam: float = MMR_LAMBDA,
    near_copy: float = NEAR_COPY,
) -> list[str]:
    """Maximal marginal relevance: relevant, but not like what is already picked.

    A candidate whose picture is a near-copy (cosine >= ``near_copy``) of a
    picked one is dropped.
    """
    chosen: list[str] = []
    chosen_vecs: list[np.ndarray] = []
    pool = list(candidates)
    while pool and len(chosen) < limit:
        best, best_value, best_sim = None, -np.inf, 0.0
        for pid in pool:
            v = vectors.get(pid)
            sim = max((float(v @ c) for c in chosen_vecs), default=0.0) if v is not None else 0.0
            value = lam * relevance[pid] - (1 - lam) * sim
            if value > best_value:
                best, best_value, best_sim = pid, value, sim
        pool.remove(best)
        if best_sim >= near_copy:
            continue
        chosen.append(best)
        if vectors.get(best) is not None:
            chosen_vecs.append(vectors[best])
    return chosen


def _differs(a: ProductTags, b: ProductTags, facet: str) -> bool:
    x, y = a.top(facet), b.top(facet)
    return bool(x and y and x != y)


# -- similar items ---------------------------------------------------------------------------
def similar_products(
    product: Any, limit: int = 8, *, in_stock_only: bool = True, filters: Filters | None = None
) -> list[Card]:
    """Products like ``product`` (see the module docstring), best first."""
    pid = str(product.pk)
    query = product_vector(pid)
    if query is None:
        return _similar_by_tags(pid, limit, in_stock_only)
    f = (filters or Filters()).with_excluded([pid])
    if in_stock_only:
        f = replace(f, in_stock=True)
    hits = get_index().search_products(query, max(limit * 5, 40), f)
    return rerank_similar(pid, hits, limit)


def rerank_similar(pid: str, hits: Sequence[ProductHit], limit: int) -> list[Card]:
    hits = [h for h in hits if h.product_id != pid]
    tags = visible_tags([pid, *(h.product_id for h in hits)])
    mine = tags[pid]
    relevance: dict[str, float] = {}
    reasons: dict[str, str] = {}
    sims: dict[str, float] = {}
    for h in hits:
        theirs = tags[h.product_id]
        score, reason = h.score, "similar_design"
        same_type = mine.top("type") and mine.top("type") == theirs.top("type")
        if mine.top("type") and theirs.top("type") and not same_type:
            score -= 0.25
            reason = "other_type"
        elif same_type:
            score += 0.08
        score += 0.04 * len(mine.values("style") & theirs.values("style"))
        if h.score >= SAME_DESIGN and reason != "other_type":
            # The same design in another metal or colour is what shoppers look for first.
            if _differs(mine, theirs, "metal") or _differs(mine, theirs, "metal_tone"):
                reason, score = "other_metal", score + VARIANT_BONUS
            elif _differs(mine, theirs, "colour") or _differs(mine, theirs, "stone"):
                reason, score = "other_colour", score + VARIANT_BONUS - 0.02
        relevance[h.product_id], reasons[h.product_id], sims[h.product_id] = score, reason, h.score
    ranked = sorted(relevance, key=lambda p: -relevance[p])
    vectors = {p: c for p, v in product_vectors(ranked[: limit * 4]).items() if (c := centroid(v)) is not None}
    order = mmr(ranked[: limit * 4], relevance, vectors, limit * 2)
    image_of = {h.product_id: h.image_id for h in hits}
    return _cards([(p, relevance[p], sims[p], reasons[p], image_of[p]) for p in order], tags, limit)


def _similar_by_tags(pid: str, limit: int, in_stock_only: bool) -> list[Card]:
    """Not analysed yet: products of the same type (and style) by their tags."""
    mine = visible_tags([pid])[pid]
    if not mine.top("type"):
        return []
    facets = {"type": [mine.top("type")]}
    ids = [p for p in search.product_ids_for(facets, in_stock=in_stock_only or None, limit=limit * 4) if p != pid]
    tags = visible_tags(ids)
    ids.sort(key=lambda p: -len(mine.values("style") & tags[p].values("style")))
    return _cards([(p, 0.0, 0.0, "similar_design", "") for p in ids], tags, limit)


# -- complete the look -----------------------------------------------------------------------
def complete_the_look(product: Any, limit: int = 6, *, in_stock_only: bool = True) -> list[Card]:
    """Pieces of other types, same metal tone, preferably same style, one type at a time."""
    pid = str(product.pk)
    mine = visible_tags([pid])[pid]
    my_type = mine.top("type")
    tone = tone_of(mine)
    kinds = GOES_WITH.get(my_type, ())
    f = Filters(
        in_stock=True if in_stock_only else None,
        types=kinds,
        exclude_types=(my_type,) if (my_type and not kinds) else (),
        exclude_products=(pid,),
    )
    query = product_vector(pid)
    if query is None:
        return []
    if tone:
        # Filtered in the index: the same metal tone, or a metal of that tone.
        hits = get_index().search_products(query, limit * 8, replace(f, metal_tones=(tone,)))
        hits += _tone_by_metal(query, f, tone, limit * 8)
        hits = _dedupe(hits)
    else:
        hits = get_index().search_products(query, limit * 8, f)
    tags = visible_tags([pid, *(h.product_id for h in hits)])
    scored: dict[str, float] = {}
    for h in hits:
        theirs = tags[h.product_id]
        if not my_type and not theirs.top("type"):
            continue
        if my_type and theirs.top("type") == my_type:
            continue
        if tone and tone_of(theirs) and tone_of(theirs) != tone:
            continue
        score = h.score + 0.1 * len(mine.values("style") & theirs.values("style"))
        if mine.top("colour") and mine.top("colour") == theirs.top("colour"):
            score += 0.03
        scored[h.product_id] = score
    by_type: dict[str, list[str]] = defaultdict(list)
    for p in sorted(scored, key=lambda p: -scored[p]):
        by_type[tags[p].top("type") or "?"].append(p)
    type_order = sorted(by_type, key=lambda t: (kinds.index(t) if t in kinds else len(kinds), -scored[by_type[t][0]]))
    picked: list[str] = []
    while len(picked) < limit and any(by_type.values()):
        for t in type_order:
            if by_type[t] and len(picked) < limit:
                picked.append(by_type[t].pop(0))
    image_of = {h.product_id: h.image_id for h in hits}
    sims = {h.product_id: h.score for h in hits}
    return _cards([(p, scored[p], sims[p], "goes_with", image_of[p]) for p in picked], tags, limit)


def _tone_by_metal(query: np.ndarray, f: Filters, tone: str, k: int) -> list[ProductHit]:
    """Products with a metal tag of this tone but no metal tone tag."""
    metals = tuple(m for m, t in METAL_TONE.items() if t == tone)
    return get_index().search_products(query, k, replace(f, metals=metals)) if metals else []


def _dedupe(hits: list[ProductHit]) -> list[ProductHit]:
    best: dict[str, ProductHit] = {}
    for h in hits:
        if h.product_id not in best or h.score > best[h.product_id].score:
            best[h.product_id] = h
    return sorted(best.values(), key=lambda h: -h.score)


# -- search by photo -------------------------------------------------------------------------
def search_by_vector(vector: np.ndarray, limit: int = 12, *, filters: Filters | None = None, predicted_type: str = "") -> list[Card]:
    """Products matching a photo's embedding; a confidently predicted type nudges its type up."""
    hits = get_index().search_products(vector, max(limit * 3, 30), filters or Filters())
    tags = visible_tags(h.product_id for h in hits)
    scored = []
    for h in hits:
        score = h.score
        if predicted_type and tags[h.product_id].top("type") == predicted_type:
            score += 0.05
        scored.append((h.product_id, score, h.score, "photo_match", h.image_id))
    scored.sort(key=lambda r: -r[1])
    return _cards(scored, tags, limit)


@dataclass
class PhotoSearch:
    """What a search by photo found: the pieces detected, the matches, and timings."""

    cards: list[Card]
    detections: list[dict]
    box: tuple[float, float, float, float] | None
    tags: list[dict]
    timings_ms: dict[str, float]
    width: int
    height: int


#: The Celery task that analyses a shopper's photo (:func:`jewel_vision.tasks.analyse_search_photo`),
#: sent by name: this layer sits below the tasks.
SEARCH_TASK = "jewel_vision.analyse_search_photo"
#: What search by photo answers of each tag (the API schema's photo-search tag); a result may carry more (a colour's coverage).
ANSWERED_TAG_FIELDS = ("facet", "value", "confidence", "model", "model_version", "threshold")


def _answered_tag(tag) -> dict[str, Any]:
    """A tag as search by photo answers it: the published fields only, whatever the vision result adds."""
    d = tag.to_dict()
    return {k: d[k] for k in ANSWERED_TAG_FIELDS}


def analyse_photo(image: Image.Image) -> AnalysisResult:
    """Analyse a shopper's decoded photo where ``PHOTO_SEARCH`` says: on a worker, or here."""
    if jv_settings.PHOTO_SEARCH == "in_process":
        return analyse_here(image)
    return analyse_on_worker(image)


def analyse_on_worker(image: Image.Image) -> AnalysisResult:
    """Send the photo to ``INTERACTIVE_QUEUE`` and wait for the result, at most ``PHOTO_SEARCH_TIMEOUT``.

    The message expires when the wait ends, so a worker that gets to it late skips it.
    Raises PhotoSearchTimeout (no worker answered in time) or PhotoSearchUnavailable
    (broker unreachable, no result backend, the worker failed).
    """
    timeout = float(jv_settings.PHOTO_SEARCH_TIMEOUT)
    try:
        pending = current_app.send_task(
            SEARCH_TASK,
            args=[photos.to_message(image)],
            queue=jv_settings.INTERACTIVE_QUEUE,
            expires=timeout,
            soft_time_limit=timeout,
            time_limit=timeout + 5,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure: the search cannot run now
        logger.warning("search by photo could not reach the broker: %s", exc)
        raise photos.PhotoSearchUnavailable("search by photo is unavailable right now; please try again") from exc
    try:
        data = pending.get(timeout=timeout, propagate=True)
    except CeleryTimeoutError:
        pending.revoke()
        raise photos.PhotoSearchTimeout(
            f"no worker analysed the photo within {timeout:g} s; please try again"
        ) from None
    except photos.PhotoRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - no result backend, a failed task, a lost connection
        logger.warning("search by photo failed on the worker side: %r", exc)
        raise photos.PhotoSearchUnavailable("search by photo is unavailable right now; please try again") from exc
    return AnalysisResult.from_dict(data)


def analyse_here(image: Image.Image) -> AnalysisResult:
    """Run the configured pipeline on a decoded photo in this process (models load once per process)."""
    pipeline = configured_pipeline()
    try:
        return pipeline.run(image)
    except ImageDecodeError:
        raise
    except (FileNotFoundError, RuntimeError) as exc:
        # A missing or mismatched tagging head must not take search by photo
        # down: it only needs the embedding.
        global _warned
        if not _warned:
            logger.warning("search by photo uses the embedding only: %s", exc)
            _warned = True
        img = pipeline.decode(image)
        vector = pipeline.embedder.embed([img])[0]
        return AnalysisResult(
            tags=[], detections=[], regions=[], texts=[],
            embedding=Embedding(vector=vector, model=pipeline.embedder.name, model_version=pipeline.embedder.version),
            timings_ms={}, model_versions={}, width=img.width, height=img.height,
        )


_warned = False


def search_by_photo(
    image: Any, *, box: tuple[float, float, float, float] | None = None, limit: int = 12, filters: Filters | None = None
) -> PhotoSearch:
    """Search with a decoded photo (PIL image), or with the piece inside ``box`` (normalised x0,y0,x1,y1).

    Without a box the whole photo is searched, and the pieces the detector
    found are returned so the shopper can pick one and search again with
    its box.
    """
    t0 = time.perf_counter()
    region = photos.crop(image, box) if box else image
    result = analyse_photo(region)
    t1 = time.perf_counter()
    if result.embedding is None:
        raise RuntimeError("the pipeline returned no embedding for this photo")
    types = result.tags_for("type")
    threshold = 0.6 if not types or types[0].threshold is None else types[0].threshold
    predicted = types[0].value if types and types[0].confidence >= threshold else ""
    cards = search_by_vector(result.embedding.vector, limit, filters=filters, predicted_type=predicted)
    t2 = time.perf_counter()
    # Pieces to pick from: only when the photo holds several (stones are not pieces).
    pieces = result.pieces() if not box else []
    detections = [
        {"index": i, "label": d.label, "box": [round(float(v), 4) for v in d.box], "score": round(float(d.score), 4)}
        for i, d in enumerate(pieces)
    ] if len(pieces) > 1 else []
    return PhotoSearch(
        cards=cards,
        detections=detections,
        box=box,
        tags=[_answered_tag(t) for t in result.tags if t.confidence >= 0.05][:10],
        timings_ms={"analyse": round((t1 - t0) * 1000, 1), "search": round((t2 - t1) * 1000, 1)},
        width=region.width,
        height=region.height,
    )
