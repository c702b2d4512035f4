"""Analyse an existing catalogue: ``manage.py jewel_vision_backfill`` (also ``jewel-vision backfill``).

    manage.py jewel_vision_backfill                       # photos never analysed
    manage.py jewel_vision_backfill --select outdated     # analysed by an older pipeline version
    manage.py jewel_vision_backfill --select failed --rate 5 --max-in-flight 16

Workers must be running: this process only enqueues (at most ``--rate`` a second, and
never more than ``--max-in-flight`` unfinished) and shows a progress bar until every
photo is analysed. Interrupted, it resumes where it stopped the next time it is run
with the same selection (``--new`` starts over). It ends with a summary.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from jewel_vision.analysis import backfill
from jewel_vision.analysis.backfill_options import add_backfill_arguments
from jewel_vision.models import BackfillRun


class Command(BaseCommand):
    help = "Analyse an existing catalogue (rate-limited, resumable, with a progress bar and a summary)."

    def add_arguments(self, parser):
        add_backfill_arguments(parser)

    def handle(self, *args, select, rate, max_in_flight, new, resume, no_wait, timeout, as_json, **options):
        if rate <= 0 or max_in_flight <= 0:
            raise CommandError("--rate and --max-in-flight must be positive")
        if resume:
            run = BackfillRun.objects.filter(pk=resume).first()
            if run is None or run.status != BackfillRun.Status.RUNNING:
                raise CommandError(f"no unfinished backfill {resume}")
        else:
            run = None if new else backfill.latest_unfinished(select)
        if run is not None:
            self.stderr.write(f"resuming backfill {run.pk} ({run.get_selection_display()}) after photo {run.cursor or '-'}")
        else:
            with transaction.atomic():
                run = backfill.start(select, rate=rate, max_in_flight=max_in_flight, on_workers=False)
            self.stderr.write(f"backfill {run.pk}: {run.total} photos ({run.get_selection_display()})")
        bar = tqdm(total=run.total, unit="photo", file=sys.stderr, dynamic_ncols=True)

        def show(p: dict) -> None:
            bar.total = p["total"]
            bar.n = p["finished"]
            bar.set_postfix(enqueued=p["enqueued"], in_flight=p["in_flight"], failed=p["failed"], refresh=False)
            bar.refresh()

        try:
            run = backfill.run_here(run, on_progress=show, wait=not no_wait, timeout=timeout)
        finally:
            bar.close()
        if run.status != BackfillRun.Status.DONE:
            p = backfill.progress(run)
            self.stdout.write(
                f"backfill {run.pk} not finished: {p['finished']}/{p['total']} photos, {p['in_flight']} in flight; "
                f"run the same command again to resume it"
            )
            return
        summary = run.summary
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(
            f"backfill {run.pk} done: {summary['selected']} photos selected, {summary['done']} analysed, "
            f"{summary['failed']} failed, {summary['skipped']} already up to date, "
            f"{summary['unreadable']} unreadable, in {summary['seconds']} s"
            + (f" ({summary['photos_per_second']} photos/s)" if summary.get("photos_per_second") else "")
        )
