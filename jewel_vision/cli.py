"""The ``jewel-vision`` console script.

Commands that only look at photos (``tag``) need no database or broker.
Commands that touch the shop's data set up Django from ``--settings`` or
``DJANGO_SETTINGS_MODULE``; there is no default (the repository's demo scripts set
``DJANGO_SETTINGS_MODULE=shop.settings``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from jewel_vision.analysis.backfill_options import OPTION_NAMES, add_backfill_arguments
from jewel_vision.bench_load import add_arguments as add_bench_load_arguments


def _setup_django(settings_module: str | None) -> None:
    """Set up the shop's Django project: ``--settings``, else ``DJANGO_SETTINGS_MODULE``.

    There is no default: an installed ``jewel-vision`` must never pick some other
    project's settings. The current directory goes on ``sys.path`` (as with
    ``manage.py`` and ``celery -A``), so running from the project's root finds its
    settings module.
    """
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise SystemExit(
            "jewel-vision: no Django settings. Pass --settings myshop.settings or set "
            "DJANGO_SETTINGS_MODULE=myshop.settings (your project's settings module), and run "
            "from your project's root (the folder with manage.py)."
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise SystemExit(
            f"jewel-vision: the settings module {module!r} cannot be imported from {cwd}: run from your "
            "project's root (the folder with manage.py) or add it to PYTHONPATH."
        )
    import django

    django.setup()


def _cmd_tag(args: argparse.Namespace) -> int:
    from jewel_vision.vision.cli_tag import tag_command

    return tag_command(args.photos, as_json=args.json)


def _cmd_requeue(args: argparse.Namespace) -> int:
    _setup_django(args.settings)
    from jewel_vision.analysis.start import requeue
    from jewel_vision.models import Analysis

    if args.outdated:
        from jewel_vision.analysis.start import analyze
        from jewel_vision.registry import get_image_model, image_content_type, pipeline_version

        current = pipeline_version()
        up_to_date = set(
            Analysis.objects.filter(image_type=image_content_type(), is_current=True, pipeline_version=current).values_list(
                "image_id", flat=True
            )
        )
        count = 0
        for image in get_image_model()._default_manager.iterator():
            if str(image.pk) not in up_to_date and analyze(image) is not None:
                count += 1
        print(f"{count} photos queued for the current pipeline ({current})")
    ids = None
    if args.failed:
        failed = Analysis.objects.filter(status=Analysis.Status.FAILED, is_current=True)
        ids = list(failed.values_list("pk", flat=True))
        failed.update(status=Analysis.Status.PENDING, attempts=0, error="")
    sent, not_sent = requeue(ids)
    print(f"requeued {sent} analyses" + (f"; {not_sent} could not reach the broker and stay pending" if not_sent else ""))
    return 1 if not_sent else 0


TRAINERS = {
    "type": ("jewel_vision.training.train_type", "item-type head on ../shared/datasets/jewelry-types"),
    "detector": ("jewel_vision.training.train_detector", "jewelry detector on ring-hands (+ pasted cut-outs)"),
    "stones": ("jewel_vision.training.train_stones", "stone head on jewelry-types, gemstones and ring-hands"),
    "stamp-gate": ("jewel_vision.training.train_stamp_gate", "stamp close-up head (where OCR runs) on rendered stamps and photos"),
}


def _cmd_train(args: argparse.Namespace) -> int:
    """Dispatch to a training script (models) or to teaching (facets from the shop's own tags)."""
    if args.what == "facet":
        if not args.rest or args.rest[0].startswith("-"):
            print("usage: jewel-vision train facet FACET [--settings S] [--out-dir DIR]", file=sys.stderr)
            return 2
        sub = argparse.ArgumentParser(prog="jewel-vision train facet")
        sub.add_argument("facet")
        sub.add_argument("--settings")
        sub.add_argument("--out-dir", help="where to write <facet>.npz (default: PIPELINE['facet_heads_dir'])")
        sub.add_argument("--seed", type=int, default=0)
        fargs = sub.parse_args(args.rest)
        _setup_django(fargs.settings)
        from jewel_vision.services.teaching import TeachingError, train_facet

        try:
            report = train_facet(fargs.facet, fargs.out_dir, seed=fargs.seed)
        except TeachingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            f"trained {report['facet']} ({', '.join(report['classes'])}) on {report['images']} photos of "
            f"{sum(report['products'].values())} products; cross-validated accuracy {report['cv_accuracy']:.3f}"
        )
        if "adapted_from" in report:
            print(f"adapted from {report['adapted_from']}: on the same products held out in turn, the built-in head "
                  f"{report['cv_accuracy_builtin']:.3f}")
        print(f"wrote {report['path']} (version {report['version']}); workers pick it up for new analyses")
        print("re-analyse existing photos with: jewel-vision requeue --outdated")
        return 0
    module_name, _ = TRAINERS[args.what]
    module = importlib.import_module(module_name)
    return int(module.main(list(args.rest)) or 0)


def _cmd_backfill(args: argparse.Namespace) -> int:
    _setup_django(args.settings)
    from django.core.management import call_command

    call_command("jewel_vision_backfill", **{name: getattr(args, name) for name in OPTION_NAMES})
    return 0


def _cmd_import_catalog(args: argparse.Namespace) -> int:
    _setup_django(args.settings)
    from django.core.management import call_command

    options = {"limit": args.limit}
    call_command("import_catalog", *([args.directory] if args.directory else []), **options)
    return 0


def _pipeline(args: argparse.Namespace):
    from jewel_vision.vision.pipeline import PipelineConfig, get_pipeline

    options = {"device": args.device}
    if getattr(args, "batch_size", None):
        options["batch_size"] = args.batch_size
    if getattr(args, "type_head", None):
        options["type_head_path"] = args.type_head
    if getattr(args, "detector", None):
        options["detector_weights"] = args.detector
    return get_pipeline(PipelineConfig(**options))


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from jewel_vision.evaluation import evaluate, report
    from jewel_vision.evaluation.manifest import ManifestError, parse_label_maps, read_manifest

    try:
        label_map = parse_label_maps(args.label_map)
        rows, present = read_manifest(args.manifest, args.root)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        rows = rows[: args.limit]
    progress = (lambda done, total: print(f"\r{done}/{total}", end="", file=sys.stderr)) if sys.stderr.isatty() else None
    result, preds = evaluate.run(rows, present, _pipeline(args), label_map=label_map, batch_size=args.batch_size, progress=progress)
    if progress:
        print(file=sys.stderr)
    print(report.text_table(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    if args.html:
        report.write_html(result, evaluate.worst_mistakes(rows, preds, label_map), args.html)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from jewel_vision.evaluation import bench

    try:
        paths = bench.find_images(args.images, args.n)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = bench.run(_pipeline(args), paths, batch_size=args.batch_size)
    for key in ("images_per_second", "embedding_images_per_second", "cost_vs_embedding", "peak_rss_mb"):
        print(f"{key:<28} {result[key]:.2f}")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:<26} {ms:8.1f} ms/image")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


def _cmd_bench_similar(args: argparse.Namespace) -> int:
    if args.blas_threads > 0:
        # Before NumPy loads: a memory-bound scan gains nothing from more threads on a busy machine.
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(args.blas_threads))
    from jewel_vision.bench_similar import main as bench_main

    return bench_main(args)


def _cmd_bench_load(args: argparse.Namespace) -> int:
    from jewel_vision.bench_load import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jewel-vision", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tag", help="tag photos with the vision pipeline (no database or broker needed)")
    p.add_argument("photos", nargs="+", help="image files")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser("eval", help="evaluate the pipeline on a labelled manifest")
    p.add_argument("--manifest", required=True, help="CSV with a path column and label columns")
    p.add_argument("--root", help="folder the paths are relative to (default: the manifest's folder)")
    p.add_argument("--json", metavar="OUT.json", help="write the metrics as JSON")
    p.add_argument("--html", metavar="OUT.html", help="write a report with confusion matrices and the worst mistakes")
    p.add_argument("--label-map", action="append", metavar="FROM=TO", help="merge labels (repeatable)")
    p.add_argument("--limit", type=int, help="only the first N rows")
    p.add_argument("--type-head", help="a type head file to use instead of the shipped one (e.g. a leave-one-source-out head)")
    p.add_argument("--detector", help="detector weights to use instead of the shipped ones (e.g. a tuned candidate)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("bench", help="time the full pipeline against the bare embedding")
    p.add_argument("--images", required=True, help="folder of photos")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--json", metavar="OUT.json")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "train",
        help="train a model (type, detector, stones) or teach a facet from the shop's tags (facet style)",
        description="Models: " + "; ".join(f"{k}: {v[1]}" for k, v in TRAINERS.items())
        + ". Options after the model name go to its training script (--help lists them). "
        "facet FACET: train a head for FACET from staff-accepted tags on analysed products.",
    )
    p.add_argument("what", choices=[*TRAINERS, "facet"])
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options for the trainer")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("requeue", help="re-enqueue pending and stuck analyses")
    p.add_argument("--failed", action="store_true", help="also retry analyses that failed")
    p.add_argument("--outdated", action="store_true",
                   help="also analyse photos last analysed by another pipeline version (e.g. after teaching a facet)")
    p.add_argument("--settings", help="Django settings module")
    p.set_defaults(func=_cmd_requeue)

    p = sub.add_parser("backfill", help="analyse an existing catalogue (rate-limited, resumable, progress bar, summary)")
    add_backfill_arguments(p)
    p.add_argument("--settings", help="Django settings module")
    p.set_defaults(func=_cmd_backfill)

    p = sub.add_parser("import-catalog", help="import a folder of photos as products")
    p.add_argument("directory", nargs="?", help="folder of photos (default: ../shared/datasets if present, else generated)")
    p.add_argument("--limit", type=int, default=40, help="at most this many products")
    p.add_argument("--settings", help="Django settings module")
    p.set_defaults(func=_cmd_import_catalog)

    p = sub.add_parser("bench-similar", help="time the vector index backends on synthetic embeddings")
    p.add_argument("--n", type=int, default=100_000, help="number of indexed vectors")
    p.add_argument("--backend", choices=["exact", "pgvector"], help="one backend (default: both)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--database-url", help="PostgreSQL with pgvector to use (its index table is emptied; default: an embedded server of its own)")
    p.add_argument("--shared-buffers", metavar="SIZE",
                   help="the embedded server's shared_buffers, e.g. 10GB (default: enough for the table and its indexes)")
    p.add_argument("--projection-from", type=int, metavar="N",
                   help="HNSW['projection_from'] for this run: graphs on a PCA projection from N photos (default: the setting)")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads for the exact scan (default 1, as in a web worker process; 0: library default)")
    p.set_defaults(func=_cmd_bench_similar)

    p = sub.add_parser("bench-load", help="upload product photos over HTTP under load; real workers analyse them")
    add_bench_load_arguments(p)
    p.set_defaults(func=_cmd_bench_load)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
