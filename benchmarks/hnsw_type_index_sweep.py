"""Which HNSW parameters let the per-type partial index answer filtered queries fastest at a given recall.

    JEWEL_VISION_VAR_DIR=var python benchmarks/hnsw_type_index_sweep.py [--n 1000000] [--seed 0]
        [--configs 16x64,16x128,24x64,24x128] [--ef 200,300,400] [--json OUT.json]

On ``bench-similar``'s synthetic catalogue (same generator, same filter: in stock, type ring,
price 100-600), loaded into the shipped table of the embedded benchmark server (``pg-bench``
under ``JEWEL_VISION_VAR_DIR``; reused when it already holds ``--n`` rows of that seed), this
builds the type's partial HNSW index once per ``m x ef_construction`` and times the shipped
filtered query (``PgVectorIndex.search`` with ``Filters``) at each filtered beam (``--ef``),
with recall@10 against the exact filtered answer. Only the ring index exists while it runs,
so the plan is the one a shop's filtered query gets from a type index.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--configs", default="16x64,16x128,24x64,24x128")
    parser.add_argument("--ef", default="200,300,400", help="filtered beams (hnsw.ef_search of the filtered query)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from jewel_vision import bench_similar as bs

    bs.setup_django()
    from django.db import connections, transaction
    from django.test import override_settings
    from django.conf import settings

    from jewel_vision.conf import jv_settings
    from jewel_vision.index import pgvector
    from jewel_vision.index.pgvector import PgVectorIndex

    print(f"generating {args.n} vectors (seed {args.seed}) ...", file=sys.stderr, flush=True)
    cat = bs.synthetic(args.n, args.queries, seed=args.seed)
    expected = bs.truth(cat, mask=bs.filter_mask(cat))
    using, stop = bs._bench_database(None, args.n)
    out: dict = {"n": args.n, "seed": args.seed, "filter": "in stock, type ring, price 100-600", "runs": []}
    try:
        print("loading the table ...", file=sys.stderr, flush=True)
        with connections[using].cursor() as cur:
            pgvector.drop_hnsw_indexes(cur)
            cur.execute(f"ALTER TABLE {pgvector.TABLE} DROP COLUMN IF EXISTS {pgvector.SHORT_COLUMN}")
        bs._load_shipped_table(using, cat)  # the full-embedding layout (projection_from None)
        with connections[using].cursor() as cur:
            cur.execute("SHOW shared_buffers")
            out["shared_buffers"] = cur.fetchone()[0]
        index = PgVectorIndex(using)
        user = getattr(settings, "JEWEL_VISION", {})
        for config in args.configs.split(","):
            m, efc = (int(v) for v in config.split("x"))
            with override_settings(JEWEL_VISION={**user, "HNSW": {**jv_settings.HNSW, "m": m, "type_ef_construction": efc}}), \
                    connections[using].cursor() as cur:
                cur.execute("SET maintenance_work_mem = '2GB'")
                t = time.perf_counter()
                (name,) = pgvector.create_type_indexes(cur, args.n, only=("ring",))  # the shipped DDL, ring only
                build = time.perf_counter() - t
                cur.execute("SELECT pg_relation_size(%s) / 1048576.0", [name])
                size = float(cur.fetchone()[0])
            pgvector.prewarm(using)  # the table, its TOAST and the index, as the benchmark does
            print(f"m={m} ef_construction={efc}: built in {build:.0f} s, {size:.0f} MB", file=sys.stderr, flush=True)
            for ef in (int(v) for v in args.ef.split(",")):
                factor = pgvector.beam_factor(bs.filters())  # the filtered beam is factor x ef_search
                hnsw = {**jv_settings.HNSW, "ef_search": max(1, round(ef / factor))}
                with override_settings(JEWEL_VISION={**user, "HNSW": hnsw}):
                    search = lambda q: [h.key for h in index.search(q, 10, bs.filters())]
                    for q in cat.warmup:
                        search(q)
                    times, found = bs._timed(search, cat.queries)
                run = {"m": m, "ef_construction": efc, "ef_search": round(hnsw["ef_search"] * factor), "build_seconds": round(build, 1),
                       "index_mb": round(size, 1), "p50_ms": round(statistics.median(times), 3),
                       "p95_ms": round(bs._percentile(times, 95), 3), "recall_at_10": round(bs._recall(found, expected), 4)}
                out["runs"].append(run)
                print(json.dumps(run), flush=True)
        with transaction.atomic(using=using), pgvector.query_cursor(using) as cur:
            index._configure(cur, bs.filters())
            sql, params = pgvector.build_query(cat.queries[0], 10, bs.filters())
            cur.execute("EXPLAIN " + sql, params)
            out["plan"] = "\n".join(r[0] for r in cur.fetchall() if "Index" in r[0])
    finally:
        stop()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
