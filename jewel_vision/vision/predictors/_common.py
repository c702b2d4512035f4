"""Helpers shared by the model wrappers (no Django, torch imported lazily)."""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache

__all__ = ["resolve_device", "file_sha256", "LazyLoadMixin"]


def resolve_device(device: str | None = "auto") -> str:
    """Map a configured device to the one actually used.

    "auto" (or None/"") means "cuda" when torch sees a GPU, else "cpu". An explicit
    "cuda"/"cuda:N" without a GPU falls back to "cpu" rather than failing at inference.
    """
    wanted = (device or "auto").strip().lower()
    if wanted == "cpu":
        return "cpu"
    import torch

    has_cuda = torch.cuda.is_available()
    if wanted == "auto":
        return "cuda" if has_cuda else "cpu"
    if wanted.startswith("cuda"):
        return wanted if has_cuda else "cpu"
    raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'")


@lru_cache(maxsize=32)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, cached per (path, size, mtime)."""
    path = os.fspath(path)
    st = os.stat(path)
    return _file_sha256_cached(os.path.abspath(path), st.st_size, st.st_mtime_ns)


class LazyLoadMixin:
    """Loads heavy state once, on first use, safely from several threads."""

    _loaded: bool = False

    def _init_lazy(self) -> None:
        self._load_lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def load(self) -> None:
        """Load now (normally done automatically on first use)."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded
