"""Jewel Vision: computer vision for jewelry shops, as a reusable Django app.

Importing this package must stay cheap and Django-free: workers and benchmarks
import ``jewel_vision.vision`` without a configured Django project.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def analyze(image: Any, *, force: bool = False) -> Any:
    """Analyse one instance of the configured image model in the background.

    For shops that set ``JEWEL_VISION['AUTO_ANALYZE'] = False`` and prefer an
    explicit call to signals. Returns the :class:`~jewel_vision.models.Analysis`.
    """
    from jewel_vision.analyses import analyze as _analyze

    return _analyze(image, force=force)
