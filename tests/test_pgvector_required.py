"""On PostgreSQL a missing pgvector extension fails the pgvector tests instead of skipping them (issue 10, item 14)."""

import pytest
from _pytest.outcomes import Failed, Skipped

pytestmark = pytest.mark.django_db


def test_missing_pgvector_fails_on_postgresql_and_skips_elsewhere(monkeypatch):
    from django.db import connections

    from jewel_vision.index import pgvector
    from tests.pgvector_required import require_pgvector

    monkeypatch.setattr(pgvector, "is_ready", lambda *a, **kw: False)  # the extension is missing
    monkeypatch.setattr(connections["default"], "vendor", "postgresql")
    with pytest.raises(Failed, match="pgvector column is missing"):
        require_pgvector()
    monkeypatch.setattr(connections["default"], "vendor", "sqlite")
    with pytest.raises(Skipped):
        require_pgvector()


def test_the_pgvector_tests_use_it():
    """The pgvector module's guard and the similarity test's go through require_pgvector, not a bare skip."""
    from pathlib import Path

    root = Path(__file__).parent
    for path in (root / "index" / "test_pgvector.py", root / "services" / "test_similarity.py"):
        text = path.read_text()
        assert "require_pgvector()" in text, path
        assert 'pytest.skip("needs PostgreSQL with pgvector' not in text, path
