"""The demo Celery app with a fault hook, for tests/integration/test_faults.py only.

``celery -A tests.integration.faulty_worker worker ...``: when ``JV_TEST_PAUSE_FILE``
names a file that does not exist yet, the first analysis to reach the store (its
inference done, nothing stored yet) writes the file and then waits, until
``JV_TEST_GO_FILE`` exists (or for ``JV_TEST_PAUSE_S`` seconds). The test kills the
worker there, or cuts its database connection and lets it go on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery.signals import task_prerun

from worker import app

__all__ = ["app"]

_real_store = None


@task_prerun.connect
def _install_hook(**kwargs: object) -> None:
    """Wrap the store once Django is ready (the first task), in the process that runs tasks."""
    global _real_store
    import jewel_vision.analysis.run as runner

    if _real_store is None:
        _real_store = runner.store_result
        runner.store_result = _store_with_pause


def _store_with_pause(analysis_id, result):
    pause = os.environ.get("JV_TEST_PAUSE_FILE")
    if pause and not Path(pause).exists():
        Path(pause).write_text(f"{os.getpid()} {analysis_id}\n")
        go = os.environ.get("JV_TEST_GO_FILE")
        deadline = time.monotonic() + float(os.environ.get("JV_TEST_PAUSE_S", "600"))
        while time.monotonic() < deadline and not (go and Path(go).exists()):
            time.sleep(0.1)
    return _real_store(analysis_id, result)
