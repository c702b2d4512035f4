#!/usr/bin/env bash
# The test suite: everything on the embedded defaults (SQLite), then the
# database-facing and integration tests again on PostgreSQL.
# Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (.ci/run starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHONDONTWRITEBYTECODE=1
unset DATABASE_URL CELERY_BROKER_URL
mkdir -p var artifacts

echo "== SQLite (embedded default) =="
$BIN/pytest "$@"

echo "== PostgreSQL =="
PG_URL=${JEWEL_VISION_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/jewel_vision}
DATABASE_URL="$PG_URL" $BIN/pytest -m "not sqlite_only" tests/integration tests/test_analyses.py tests/test_aggregation.py tests/test_review.py "$@"
