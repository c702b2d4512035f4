"""Jewel Vision's plain-Python vision pipeline (no Django).

    from jewel_vision.vision import get_pipeline, ImageDecodeError
    result = get_pipeline().run(uploaded_bytes)

Importing this package is cheap: it imports neither Django nor torch; the
models are loaded on first use.
"""

from .image_io import content_hash, load_image
from .pipeline import PIPELINE_SCHEMA_VERSION, Pipeline, PipelineConfig, clear_pipeline_cache, get_pipeline
from .types import (
    AnalysisResult,
    Detection,
    Embedding,
    ImageDecodeError,
    Region,
    TagPrediction,
    TextFinding,
)

__all__ = [
    "AnalysisResult",
    "Detection",
    "Embedding",
    "ImageDecodeError",
    "PIPELINE_SCHEMA_VERSION",
    "Pipeline",
    "PipelineConfig",
    "Region",
    "TagPrediction",
    "TextFinding",
    "clear_pipeline_cache",
    "content_hash",
    "get_pipeline",
    "load_image",
]
