"""Hold Celery's soft time limit while models load, so it never stops an import halfway.

In a prefork child the soft limit is ``SIGUSR1``, whose handler raises
``SoftTimeLimitExceeded`` wherever the process happens to be. Raised inside the import of
a compiled module (onnxruntime and scipy are pybind11 modules), it leaves that module
impossible to import again in the process: every later photo on that worker then fails
with ``ImportError: initialization failed`` instead of the time limit's own message.
Model loading therefore runs with the signal held; the limit is raised as soon as the
loading ends, so the analysis still stops with the time limit's message, and the models
stay loaded, whole, for the worker's next task.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SOFT_LIMIT_SIGNAL = getattr(signal, "SIGUSR1", None)


@contextmanager
def soft_limit_held() -> Iterator[None]:
    """Run the block with the soft-limit signal held; deliver it (once) when the block ends.

    Does nothing outside the main thread (only it may set signal handlers; the threads and
    solo pools have no soft limit there) or when no Python handler is installed.
    """
    if SOFT_LIMIT_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.getsignal(SOFT_LIMIT_SIGNAL)
    if not callable(handler):
        yield
        return
    pending: list[tuple[int, object]] = []
    signal.signal(SOFT_LIMIT_SIGNAL, lambda signum, frame: pending.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(SOFT_LIMIT_SIGNAL, handler)
        if pending:
            deliver: Callable = handler
            deliver(*pending[0])
