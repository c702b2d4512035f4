"""Build or rebuild the vector index from the stored analyses.

    manage.py jewel_vision_build_index                 # the configured backend
    manage.py jewel_vision_build_index --backend pgvector   # install pgvector's column + HNSW index, fill it
    manage.py jewel_vision_build_index --stats         # only report what is indexed
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections


class Command(BaseCommand):
    help = "Build or rebuild Jewel Vision's vector index (exact in-process or pgvector HNSW)."

    def add_arguments(self, parser):
        parser.add_argument("--backend", choices=["exact", "pgvector"], help="default: JEWEL_VISION['INDEX_BACKEND']")
        parser.add_argument("--database", default="default")
        parser.add_argument("--stats", action="store_true", help="report only, change nothing")

    def handle(self, *args, backend=None, database="default", stats=False, **options):
        from jewel_vision.index import get_index, pgvector, reset_indexes, sync

        if stats:
            self.stdout.write(str(get_index(database).stats()))
            return
        backend = backend or sync.backend_name(database)
        started = time.perf_counter()
        if backend == "pgvector":
            if connections[database].vendor != "postgresql":
                raise CommandError("the pgvector backend needs PostgreSQL (set DATABASE_URL)")
            if not pgvector.extension_available(database):
                raise CommandError("PostgreSQL has no 'vector' extension available: install pgvector on the server")
            pgvector.install(database)
        count = sync.rebuild_items(using=database, backend=backend)
        reset_indexes()
        self.stdout.write(
            self.style.SUCCESS(f"indexed {count} photos with the {backend} backend in {time.perf_counter() - started:.1f}s")
        )
