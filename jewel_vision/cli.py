"""The ``jewel-vision`` console script.

Commands that only look at photos (``tag``) need no database or broker.
Commands that touch the shop's data set up Django from ``--settings`` or
``DJANGO_SETTINGS_MODULE`` (the demo project's ``shop.settings`` by default).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence


def _setup_django(settings_module: str | None) -> None:
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    elif "DJANGO_SETTINGS_MODULE" not in os.environ:
        if importlib.util.find_spec("shop.settings") is None:
            raise SystemExit("Set DJANGO_SETTINGS_MODULE (or pass --settings) to your project's settings.")
        os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    import django

    django.setup()


def _cmd_tag(args: argparse.Namespace) -> int:
    from jewel_vision.vision.cli_tag import tag_command

    return tag_command(args.photos, as_json=args.json)


def _cmd_requeue(args: argparse.Namespace) -> int:
    _setup_django(args.settings)
    from jewel_vision.analyses import requeue
    from jewel_vision.models import Analysis

    ids = None
    if args.failed:
        failed = Analysis.objects.filter(status=Analysis.Status.FAILED, is_current=True)
        ids = list(failed.values_list("pk", flat=True))
        failed.update(status=Analysis.Status.PENDING, attempts=0, error="")
    sent, not_sent = requeue(ids)
    print(f"requeued {sent} analyses" + (f"; {not_sent} could not reach the broker and stay pending" if not_sent else ""))
    return 1 if not_sent else 0


def _cmd_import_catalog(args: argparse.Namespace) -> int:
    _setup_django(args.settings)
    from django.core.management import call_command

    options = {"limit": args.limit}
    call_command("import_catalog", *([args.directory] if args.directory else []), **options)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jewel-vision", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tag", help="tag photos with the vision pipeline (no database or broker needed)")
    p.add_argument("photos", nargs="+", help="image files")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser("requeue", help="re-enqueue pending and stuck analyses")
    p.add_argument("--failed", action="store_true", help="also retry analyses that failed")
    p.add_argument("--settings", help="Django settings module")
    p.set_defaults(func=_cmd_requeue)

    p = sub.add_parser("import-catalog", help="import a folder of photos as products")
    p.add_argument("directory", nargs="?", help="folder of photos (default: ../shared/datasets if present, else generated)")
    p.add_argument("--limit", type=int, default=40, help="at most this many products")
    p.add_argument("--settings", help="Django settings module")
    p.set_defaults(func=_cmd_import_catalog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
