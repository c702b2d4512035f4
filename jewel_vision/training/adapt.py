"""Adapting a built-in head to one shop's photos from the examples its staff labelled.

A head trained on other shops' photos can be wrong in a consistent way on a new shop's
(``pcjeweller``'s ring packshots, shot front-on, read as earrings and bracelets: MODEL_CARD.md).
The shop's reviewed tags fix that for its own photos: the head's **last layer** is fine-tuned
on the shop's labelled embeddings, class-balanced, with an L2 pull toward the built-in
weights, so that a few examples move it a little and many move it further; the hidden
layers (when the head has any) stay as they are. The pull, steps and learning rate were chosen
on one source (``princesegzy01`` as the new shop) and reported on another (``pcjeweller``):
``benchmarks/type_adaptation.py``, ``benchmarks/results/type-adaptation.json``.
"""

from __future__ import annotations

import numpy as np

from jewel_vision.vision.predictors.embedding_head import Layers, hidden_features

__all__ = ["ADAPT_LR", "ADAPT_PULL", "ADAPT_STEPS", "adapt_last_layer"]

ADAPT_PULL = 0.001  # L2 strength toward the built-in last layer (weights and biases); chosen on princesegzy01
ADAPT_STEPS = 300
ADAPT_LR = 0.02


def adapt_last_layer(
    layers: Layers,
    x: np.ndarray,
    y: np.ndarray,
    *,
    pull: float = ADAPT_PULL,
    steps: int = ADAPT_STEPS,
    lr: float = ADAPT_LR,
    seed: int = 0,
) -> Layers:
    """``layers`` with the last one fine-tuned on embeddings ``x`` [N, D] labelled ``y`` [N]
    (indices into the head's classes): class-balanced cross-entropy over the classes present
    in ``y`` + ``pull * ||(W, b) - (W0, b0)||^2``, full batch, Adam."""
    import torch

    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    if x.ndim != 2 or len(x) != len(y) or not len(y):
        raise ValueError(f"expected embeddings [N, D] and N labels, got {x.shape} and {y.shape}")
    n_classes = layers[-1][0].shape[0]
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be class indices in [0, {n_classes})")
    feats = hidden_features(layers, x)
    torch.manual_seed(seed)
    w0, b0 = (torch.from_numpy(np.asarray(a, np.float32).copy()) for a in layers[-1])
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    present = counts > 0
    class_w = np.where(present, counts.sum() / np.maximum(counts, 1.0) / present.sum(), 0.0).astype(np.float32)
    ft, yt, cw = torch.from_numpy(np.ascontiguousarray(feats)), torch.from_numpy(y), torch.from_numpy(class_w)
    opt = torch.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(ft @ w.T + b, yt, weight=cw)
        loss = loss + pull * (((w - w0) ** 2).sum() + ((b - b0) ** 2).sum())
        loss.backward()
        opt.step()
    last = (w.detach().numpy().astype(np.float32), b.detach().numpy().astype(np.float32))
    return [*(tuple(layer) for layer in layers[:-1]), last]  # type: ignore[list-item]
