"""Teaching the pipeline a facet by example, from the shop's own reviewed tags.

Staff accept or add tags such as ``style:vintage`` on some products; this
module trains a head on those products' photo embeddings and writes it where
the pipeline picks it up (``JEWEL_VISION["PIPELINE"]["facet_heads_dir"]``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from jewel_vision.registry import product_content_type
from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, StoredEmbedding, ProductTag


class TeachingError(ValueError):
    """Not enough (or inconsistent) examples to train a facet."""


def facet_examples(facet: str) -> tuple[np.ndarray, list[str], list[str], str]:
    """(embeddings, labels, product ids, embedder) of products a person tagged in ``facet``.

    Products with two accepted values of the facet are left out (ambiguous).
    """
    values: dict[str, set[str]] = defaultdict(set)
    for pid, value in ProductTag.objects.filter(
        product_type=product_content_type(), tag__facet=facet, review_state=ProductTag.Review.ACCEPTED
    ).values_list("product_id", "tag__value"):
        values[pid].add(value)
    labelled = {pid: next(iter(v)) for pid, v in values.items() if len(v) == 1}
    rows = StoredEmbedding.objects.filter(
        analysis__product_id__in=list(labelled),
        analysis__is_current=True,
        analysis__status=Analysis.Status.DONE,
    ).values_list("analysis__product_id", "vector", "model_version")
    vectors, labels, groups, embedders = [], [], [], set()
    for pid, vector, model_version in rows:
        vectors.append(np.frombuffer(bytes(vector), dtype="<f4"))
        labels.append(labelled[pid])
        groups.append(pid)
        embedders.add(model_version)
    if len(embedders) > 1:
        raise TeachingError(f"photos were embedded by different models ({', '.join(sorted(embedders))}); re-analyse first")
    x = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
    return x, labels, groups, next(iter(embedders), "")


def train_facet(facet: str, out_dir: str | Path | None = None, *, min_products: int = 3, seed: int = 0) -> dict:
    """Train and save the head for ``facet``; returns its cross-validated report."""
    from jewel_vision.training.common import stratified_group_folds, train_head
    from jewel_vision.training.train_type import choose_thresholds
    from jewel_vision.vision.predictors.embedding_head import head_proba, save_head

    facet = facet.strip().lower()
    if facet in {"type", "metal", "metal_tone", "stone", "hallmark", "purity"}:
        raise TeachingError(f"'{facet}' is predicted by a built-in model; teach new facets such as style")
    out_dir = Path(out_dir or jv_settings.PIPELINE.get("facet_heads_dir") or "")
    if not str(out_dir) or str(out_dir) == ".":
        raise TeachingError("set JEWEL_VISION['PIPELINE']['facet_heads_dir'] to the folder the workers read heads from")
    x, labels, groups, embedder = facet_examples(facet)
    products = {value: len(pids) for value, pids in _products_per_value(labels, groups).items()}
    short = {v: n for v, n in products.items() if n < min_products}
    if len(products) < 2 or short:
        have = ", ".join(f"{v}: {n}" for v, n in sorted(products.items())) or "none"
        raise TeachingError(
            f"to teach '{facet}', accept or add tags on at least {min_products} analysed products for each of "
            f"at least 2 values (have {have})"
        )
    classes = sorted(products)
    y = np.array([classes.index(v) for v in labels])
    n_folds = int(min(5, min(products.values())))
    folds = stratified_group_folds(labels, groups, n_folds, seed)
    oof = np.zeros((len(y), len(classes)), np.float32)
    for k in range(n_folds):
        train, test = folds != k, folds == k
        layers = train_head(x[train], y[train], len(classes), l2=1e-3, epochs=200, seed=seed)
        oof[test] = head_proba(layers, x[test])
    accuracy = float((oof.argmax(1) == y).mean())
    # Cross-validated confusion, rows the person's label, columns the head's (what staff see before switching it on).
    confusion = np.zeros((len(classes), len(classes)), int)
    np.add.at(confusion, (y, oof.argmax(1)), 1)
    thresholds, threshold_info = choose_thresholds(oof, y, classes, target=0.9)
    layers = train_head(x, y, len(classes), l2=1e-3, epochs=200, seed=seed)
    report = {
        "facet": facet,
        "classes": classes,
        "products": dict(products),
        "images": int(len(y)),
        "cv_folds": n_folds,
        "cv_accuracy": accuracy,
        "cv_confusion": confusion.tolist(),
        "cv_accuracy_per_value": {c: float(confusion[i, i] / max(1, confusion[i].sum())) for i, c in enumerate(classes)},
        "thresholds": threshold_info,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    report["version"] = save_head(out_dir / f"{facet}.npz", layers, classes, thresholds, embedder, report)
    report["path"] = str(out_dir / f"{facet}.npz")
    return report


def _products_per_value(labels: list[str], groups: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for label, group in zip(labels, groups):
        out[label].add(group)
    return out
