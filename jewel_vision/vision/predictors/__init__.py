"""Model wrappers: each loads lazily, once, and is safe to share between threads."""

from ._common import resolve_device
from .embedder import Embedder
from .type_classifier import DEFAULT_TYPE_HEAD_PATH, TypeClassifier

__all__ = ["DEFAULT_TYPE_HEAD_PATH", "Embedder", "TypeClassifier", "resolve_device"]
