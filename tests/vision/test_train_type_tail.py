"""The fine-tuned tail experiment: its warm start is the frozen head, and training moves it."""

from __future__ import annotations

import numpy as np
import pytest

from jewel_vision.training.common import train_head
from jewel_vision.training.train_type import CLASSES
from jewel_vision.training.train_type_tail import TypeTailNet, fine_tune
from jewel_vision.vision.predictors.embedding_head import head_proba

from ._images import draw_necklace, draw_ring

pytestmark = pytest.mark.timeout(300)
SPLIT, SHAPE = 15, (192, 7, 7)


@pytest.fixture(scope="module")
def drawn(embedder_module):
    """Trunk features of drawn rings (class ring) and necklaces (class necklace), sizes varied."""
    imgs = [draw_ring(size=(200 + 12 * i, 160)) for i in range(6)] + [
        draw_necklace(size=(200 + 12 * i, 200)) for i in range(6)]
    y = np.array([CLASSES.index("ring")] * 6 + [CLASSES.index("necklace")] * 6)
    feats = embedder_module.trunk_features(imgs, SPLIT).reshape(len(imgs), -1).astype(np.float16)
    return feats, y


@pytest.fixture(scope="module")
def embedder_module():
    from jewel_vision.vision.predictors.embedder import Embedder

    return Embedder(device="cpu", batch_size=8)


def test_warm_start_reproduces_the_frozen_head(embedder_module, drawn):
    feats, y = drawn
    emb = embedder_module.embed_from_trunk(feats.astype(np.float32).reshape(-1, *SHAPE), SPLIT)
    layers = train_head(emb, y, len(CLASSES), l2=1e-3, epochs=50, seed=0)
    net = TypeTailNet(embedder_module.network, SPLIT, SHAPE, layers)
    assert np.allclose(net.proba(feats), head_proba(layers, emb), atol=1e-4)


def test_fine_tuning_fits_labels_the_warm_start_gets_wrong(embedder_module, drawn):
    feats, y = drawn
    emb = embedder_module.embed_from_trunk(feats.astype(np.float32).reshape(-1, *SHAPE), SPLIT)
    swapped = np.where(y == CLASSES.index("ring"), CLASSES.index("necklace"), CLASSES.index("ring"))
    layers = train_head(emb, y, len(CLASSES), l2=1e-3, epochs=50, seed=0)  # learns the true labels
    w = np.ones(len(y), np.float32)
    net, info = fine_tune(embedder_module.network, SPLIT, SHAPE, feats, swapped, w, feats, swapped, layers,
                          epochs=6, lr=1e-3, seed=0, batch=4)
    assert info["val_macro_f1_by_epoch"][0] < 0.5  # the warm start disagrees with the new labels
    assert info["best_epoch"] > 0 and (net.proba(feats).argmax(1) == swapped).mean() >= 0.9
    # the network it copied from is untouched
    assert np.allclose(embedder_module.embed_from_trunk(feats.astype(np.float32).reshape(-1, *SHAPE), SPLIT), emb)
