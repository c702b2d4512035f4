"""Fixtures for the vision tests. Every image is drawn here; no dataset files."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

from ._images import draw_necklace, draw_ring, to_bytes


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: the vision tests need no Django."""
    yield


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (models must load from installed files)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def ring_image() -> Image.Image:
    return draw_ring()


@pytest.fixture(scope="session")
def necklace_image() -> Image.Image:
    return draw_necklace()


@pytest.fixture(scope="session")
def ring_jpeg(ring_image) -> bytes:
    return to_bytes(ring_image, "JPEG", quality=90)


@pytest.fixture(scope="session")
def noise_image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8))


@pytest.fixture(scope="session")
def embedder():
    from jewel_vision.vision.predictors.embedder import Embedder

    return Embedder(device="cpu", batch_size=8)


@pytest.fixture(scope="session")
def pipeline():
    from jewel_vision.vision.pipeline import Pipeline, PipelineConfig

    return Pipeline(PipelineConfig(device="cpu"))
