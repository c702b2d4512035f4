"""Embedder: shape, normalisation, determinism, explicit weights, laziness."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from jewel_vision.vision.predictors.embedder import (
    BUNDLED_WEIGHTS_SHA256,
    DEFAULT_PREPROCESSING,
    Embedder,
    bundled_weights_path,
)
from jewel_vision.vision.predictors._common import file_sha256, resolve_device

pytestmark = pytest.mark.timeout(60)


def test_shape_dtype_and_unit_norm(embedder, ring_image, necklace_image, noise_image):
    vecs = embedder.embed([ring_image, necklace_image, noise_image])
    assert vecs.shape == (3, 1280)
    assert vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(vecs))
    # different pictures, different embeddings
    assert float(vecs[0] @ vecs[2]) < 0.95


def test_deterministic_and_batch_independent(embedder, ring_image, necklace_image, noise_image, monkeypatch):
    monkeypatch.setattr(embedder, "batch_size", 2)
    imgs = [ring_image, necklace_image, noise_image, necklace_image, ring_image]  # 3 batches of <= 2
    a = embedder.embed(imgs)
    b = embedder.embed(imgs)
    assert np.array_equal(a, b)
    single = embedder.embed([necklace_image])
    assert np.allclose(single[0], a[1], atol=1e-5)
    assert np.allclose(a[1], a[3], atol=1e-5) and np.allclose(a[0], a[4], atol=1e-5)


@pytest.mark.parametrize("split", [15, 16])
def test_trunk_then_tail_is_the_embedding(embedder, ring_image, necklace_image, split):
    """A fine-tuned tail starts from trunk_features; the frozen rest gives back embed() exactly."""
    feats = embedder.trunk_features([ring_image, necklace_image], split)
    assert feats.shape == (2, {15: 192, 16: 320}[split], 7, 7) and feats.dtype == np.float32
    assert np.allclose(embedder.embed_from_trunk(feats, split), embedder.embed([ring_image, necklace_image]), atol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_empty_batch(embedder):
    assert embedder.embed([]).shape == (0, 1280)


def test_any_mode_and_size(embedder):
    imgs = [Image.new("L", (50, 400), 128), Image.new("RGBA", (1000, 20), (10, 200, 30, 255)), Image.new("RGB", (1, 1))]
    vecs = embedder.embed(imgs)
    assert vecs.shape == (3, 1280) and np.all(np.isfinite(vecs))


def test_preprocess_pads_to_square_with_white(embedder):
    arr = embedder.preprocess(Image.new("RGB", (448, 224), (0, 0, 0)))
    assert arr.shape == (3, 224, 224) and arr.dtype == np.float32
    assert DEFAULT_PREPROCESSING.mean == (0.5, 0.5, 0.5) and DEFAULT_PREPROCESSING.std == (0.5, 0.5, 0.5)
    assert np.allclose(arr[:, 0, :], 1.0)  # padding: white -> +1
    assert np.allclose(arr[:, 112, :], -1.0)  # the black photo -> -1


def test_identity_is_lazy_and_versioned():
    e = Embedder(device="cpu")
    assert e.name == "effnet-lite0" and e.version == "imagenet"
    assert e.full_name == "effnet-lite0@imagenet"
    assert not e.loaded  # asking for the version does not build the network
    assert e.device == "cpu"


def test_explicit_weights_path_is_the_bundled_file(embedder, ring_image):
    path = bundled_weights_path()
    assert file_sha256(path) == BUNDLED_WEIGHTS_SHA256
    explicit = Embedder(weights_path=path, device="cpu")
    assert explicit.version == "imagenet"
    assert np.allclose(explicit.embed([ring_image]), embedder.embed([ring_image]), atol=1e-6)


def test_other_weights_get_a_hash_version(tmp_path, ring_image, embedder):
    state = torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)
    state = {f"module.{k}": v for k, v in state.items() if not k.startswith("_fc.")}  # DDP-style, no classifier
    state["module._bn1.bias"] = state["module._bn1.bias"] + 0.5
    path = tmp_path / "custom.pth"
    torch.save({"state_dict": state}, path)
    custom = Embedder(weights_path=path, device="cpu")
    assert custom.version.startswith("sha256-") and len(custom.version) == len("sha256-") + 12
    vec = custom.embed([ring_image])
    assert vec.shape == (1, 1280) and not np.allclose(vec, embedder.embed([ring_image]), atol=1e-3)


def test_missing_or_wrong_weights(tmp_path):
    with pytest.raises(FileNotFoundError):
        Embedder(weights_path=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(3)}, bad)
    with pytest.raises(RuntimeError, match="do not match"):
        Embedder(weights_path=bad, device="cpu").load()


def test_loads_once_across_threads():
    e = Embedder(device="cpu")
    models = []

    def load():
        e.load()
        models.append(id(e._model))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert e.loaded and len(set(models)) == 1


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_imagenet_head_is_available(embedder, ring_image):
    logits = embedder.imagenet_logits([ring_image])
    assert logits.shape == (1, 1000)


def test_precision_is_validated_and_fp32_matches_auto_on_cpu(embedder, ring_image):
    with pytest.raises(ValueError, match="precision"):
        Embedder(precision="int8")
    with pytest.raises(ValueError, match="CUDA"):
        Embedder(device="cpu", precision="fp16").embed([ring_image])
    fp32 = Embedder(device="cpu", precision="fp32")
    assert np.array_equal(fp32.embed([ring_image]), embedder.embed([ring_image]))  # auto is fp32 on the CPU
