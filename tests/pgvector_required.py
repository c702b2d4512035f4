"""pgvector in tests: on SQLite its tests may skip; on PostgreSQL a missing ``vector`` extension is a failure.

The PostgreSQL pass of ``scripts/test.sh`` runs against the embedded PostgreSQL with
pgvector; if the extension is missing there, the pgvector tests must fail, not skip
silently (issue 10, item 14).
"""

from __future__ import annotations

import pytest


def require_pgvector() -> None:
    """Skip on a database other than PostgreSQL; fail on PostgreSQL without pgvector."""
    from django.db import connection

    from jewel_vision.index import pgvector

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL with pgvector (scripts/test.sh starts one)")
    if not pgvector.is_ready(refresh=True):
        pytest.fail(
            "this is a PostgreSQL run but the pgvector column is missing: install the 'vector' extension "
            "(the embedded PostgreSQL of tests/pg.py has it) and migrate",
            pytrace=False,
        )
