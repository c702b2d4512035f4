"""The options of a backfill, shared by ``jewel-vision backfill`` and ``manage.py jewel_vision_backfill``.

Plain argparse, no Django: the console script builds its parser before Django is set up.
"""

from __future__ import annotations

import argparse

#: ``BackfillRun.Selection`` values a person can choose from the terminal ("products" is the admin's).
SELECTIONS = ("all", "new", "untagged", "failed", "outdated")


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", choices=SELECTIONS, default="new",
                        help="which photos: all, new (never analysed, the default), untagged, failed, outdated")
    parser.add_argument("--rate", type=float, default=10.0, help="enqueue at most this many photos a second")
    parser.add_argument("--max-in-flight", type=int, default=32, help="at most this many analyses waiting or running")
    parser.add_argument("--new", action="store_true", help="start a new run instead of resuming an interrupted one")
    parser.add_argument("--resume", type=int, metavar="RUN", help="resume this run (its id)")
    parser.add_argument("--no-wait", action="store_true", help="return once every photo is enqueued")
    parser.add_argument("--timeout", type=float, help="stop waiting after this many seconds (the run stays resumable)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the summary as JSON")


#: The option names as ``call_command`` takes them.
OPTION_NAMES = ("select", "rate", "max_in_flight", "new", "resume", "no_wait", "timeout", "as_json")
