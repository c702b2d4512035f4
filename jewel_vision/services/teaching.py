"""Teaching the pipeline a facet by example, from the shop's own reviewed tags.

Staff accept or add tags such as ``style:vintage`` on some products; this
module trains a head on those products' photo embeddings and writes it where
the pipeline picks it up (``JEWEL_VISION["PIPELINE"]["facet_heads_dir"]``).
For ``type`` the built-in head is adapted to the shop's photos instead
(``type.npz`` there replaces it in the pipeline).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from jewel_vision.conf import jv_settings
from jewel_vision.models import Analysis, ProductTag, StoredEmbedding
from jewel_vision.registry import pipeline_config, product_content_type
from jewel_vision.training.adapt import ADAPT_PULL, adapt_last_layer
from jewel_vision.training.common import (
    NEAR_DUPLICATE_COSINE,
    merge_near_duplicates,
    stratified_group_folds,
    train_head,
)
from jewel_vision.training.train_type import choose_thresholds
from jewel_vision.vision.predictors.embedding_head import head_proba, save_head
from jewel_vision.vision.predictors.type_classifier import ADAPTED_TYPE_FILE, TypeClassifier


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
    """Train and save the head for ``facet``; returns its cross-validated report.

    ``type`` is not trained from scratch: the built-in type head is adapted (:func:`adapt_type_head`).
    """
    facet = facet.strip().lower()
    if facet in {"metal", "metal_tone", "stone", "hallmark", "purity"}:
        raise TeachingError(f"'{facet}' is predicted by a built-in model; teach new facets such as style")
    out_dir = Path(out_dir or jv_settings.PIPELINE.get("facet_heads_dir") or "")
    if not str(out_dir) or str(out_dir) == ".":
        raise TeachingError("set JEWEL_VISION['PIPELINE']['facet_heads_dir'] to the folder the workers read heads from")
    if facet == "type":
        return adapt_type_head(out_dir, min_products=min_products, seed=seed)
    x, labels, groups, embedder = facet_examples(facet)
    products = _enough_products(labels, groups, min_products,
                                f"to teach '{facet}', accept or add tags on at least {min_products} analysed products "
                                "for each of at least 2 values")
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


def _enough_products(labels: list[str], groups: list[str], min_products: int, need: str, more: str = "") -> dict[str, int]:
    """Products per value; a TeachingError saying ``need`` (what is had, then ``more``) unless
    there are at least 2 values with ``min_products`` products each."""
    products = {value: len(pids) for value, pids in _products_per_value(labels, groups).items()}
    if len(products) < 2 or any(n < min_products for n in products.values()):
        have = ", ".join(f"{v}: {n}" for v, n in sorted(products.items())) or "none"
        raise TeachingError(f"{need} (have {have}){more}")
    return products


def _products_per_value(labels: list[str], groups: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for label, group in zip(labels, groups):
        out[label].add(group)
    return out


def _head_class(label: str, classes: list[str], label_map: dict[str, str]) -> str | None:
    """The head's class for a shop's type label: the class of that name, else the first class
    the shop's merges (``PIPELINE['type_labels']``) turn into it; None when the head has none."""
    if label in classes:
        return label
    return next((c for c in classes if label_map.get(c) == label), None)


def adapt_type_head(out_dir: str | Path, *, min_products: int = 3, seed: int = 0) -> dict:
    """Adapt the built-in type head to the shop's photos from its reviewed ``type`` tags and save
    it as ``out_dir/type.npz`` (the pipeline then uses it instead of the built-in head).

    The report compares, by products held out in turn (cross-validation by product), how often
    the built-in head and the adapted one give each photo the type a person gave its product,
    so staff see what switching it on would change before they do.
    """
    config = pipeline_config()
    base = TypeClassifier(path=config.type_head_path)  # the built-in head (or the one the settings name)
    classes = base.classes
    label_map = dict(config.type_labels)
    x, labels, groups, embedder = facet_examples("type")
    if len(labels) and embedder != base.embedder_name:
        raise TeachingError(f"the photos were embedded by {embedder}, the type head expects {base.embedder_name}; re-analyse first")
    mapped = [_head_class(v, classes, label_map) for v in labels]
    unknown = sorted({v for v, c in zip(labels, mapped) if c is None})
    keep = np.array([c is not None for c in mapped], bool)
    x = x[keep] if len(labels) else x
    labels = [c for c in mapped if c is not None]
    groups = [g for g, k in zip(groups, keep) if k]
    products = _enough_products(labels, groups, min_products,
                                f"to adapt the type head, accept or correct type tags on at least {min_products} "
                                "analysed products for each of at least 2 types",
                                f"; the head has no type for {', '.join(unknown)}" if unknown else "")
    y = np.array([classes.index(v) for v in labels])
    layers0 = base.layers
    # the same photo under two products (a reused model shot) stays on one side of each fold
    merged, _ = merge_near_duplicates(groups, x, NEAR_DUPLICATE_COSINE)
    n_folds = int(min(5, min(len(g) for g in _products_per_value(labels, merged).values())))
    if n_folds < 2:
        raise TeachingError("the photos of one type are all copies of one photo: review more products of it")
    folds = stratified_group_folds(labels, merged, n_folds, seed)
    before, after = np.zeros(len(y), np.int64), np.zeros(len(y), np.int64)
    for k in range(n_folds):
        train, test = folds != k, folds == k
        before[test] = head_proba(layers0, x[test]).argmax(1)
        after[test] = head_proba(adapt_last_layer(layers0, x[train], y[train], seed=seed), x[test]).argmax(1)
    # right = what the shop sees is right: its merges apply to the prediction and the label alike
    shown = np.array([label_map.get(c, c) for c in classes])
    right_before, right_after = shown[before] == shown[y], shown[after] == shown[y]
    present = sorted(set(y.tolist()))
    confusion = np.zeros((len(present), len(classes)), int)
    np.add.at(confusion, (np.searchsorted(present, y), after), 1)
    report = {
        "facet": "type",
        "adapted_from": base.full_name,
        "classes": [classes[i] for i in present],
        "products": dict(products),
        "images": int(len(y)),
        "left_out_labels": unknown,
        "cv_folds": n_folds,
        "cv_accuracy": float(right_after.mean()),
        "cv_accuracy_builtin": float(right_before.mean()),
        "cv_confusion": confusion.tolist(),
        "cv_confusion_columns": classes,
        "cv_accuracy_per_value": {classes[c]: float(right_after[y == c].mean()) for c in present},
        "cv_accuracy_per_value_builtin": {classes[c]: float(right_before[y == c].mean()) for c in present},
        "pull": ADAPT_PULL,
        "thresholds": "the built-in head's (chosen on its validation splits)",
    }
    layers = adapt_last_layer(layers0, x, y, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    thresholds = np.array([base.thresholds[c] for c in classes], np.float32)
    report["version"] = save_head(out_dir / ADAPTED_TYPE_FILE, layers, classes, thresholds, embedder, report)
    report["path"] = str(out_dir / ADAPTED_TYPE_FILE)
    return report
