"""``jewel-vision bench-load``: product photos uploaded over HTTP under load, analysed by real workers.

    jewel-vision bench-load --uploads 200 --concurrency 50 --workers 2 --json OUT.json

What runs (each started here unless its URL is given):

* PostgreSQL: a fresh database on ``--pg-url`` (default the local server on :5432), migrated,
  with a staff user; dropped at the end (``--keep-db`` keeps it).
* the shop: ``django-admin runserver`` (threaded) on the project's settings (``--settings``,
  default the demo's ``shop.settings``), or ``--server-url`` of one that runs (then pass
  ``--database-url``, ``--username`` and ``--password`` of that shop, and ``--workers 0`` unless
  its media storage is shared: workers started here read photos from a folder of their own).
* ``--workers`` real ``celery -A APP worker --pool solo`` processes on both queues over Redis.

``--concurrency`` clients (one HTTP session each: log in to the admin with its CSRF token, as a
browser does) each add products through the admin's "add product" form, one photo per product in
the photo inline, until ``--uploads`` are sent. Then it waits until every photo's analysis has
ended (done or failed) or ``--timeout``. ``lost``: uploaded photos whose analysis never ended.
``bench_reference``: ``jewel-vision bench``'s photos/s on the same photos (``--reference-n``),
run after the workers stopped. The app never imports the demo shop: it is started by name.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

DEFAULT_IMAGES = Path("../shared/datasets/jewelry-types/images")
QUEUES = "jewel_vision_interactive,jewel_vision"
_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uploads", type=int, default=200, help="photos to upload (one product each)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent HTTP clients")
    p.add_argument("--workers", type=int, default=2, help="Celery worker processes to start (0: use running ones)")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument("--images", help=f"folder of photos (default: {DEFAULT_IMAGES} if present, else drawn)")
    p.add_argument("--settings", default="shop.settings", help="the shop's Django settings module")
    p.add_argument("--celery-app", default="worker", help="the shop's Celery app (celery -A)")
    p.add_argument("--broker", default="redis://127.0.0.1:6379/8", help="Redis broker (flushed when workers start here)")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server where a fresh database is made")
    p.add_argument("--server-url", help="a running shop (skips database, server and user setup)")
    p.add_argument("--database-url", help="that shop's database (to read the analyses)")
    p.add_argument("--add-path", default="/admin/shop/product/add/",
                   help="the admin's add-product page (its form has a photo inline)")
    p.add_argument("--username", default="bench-load")
    p.add_argument("--password")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the analyses")
    p.add_argument("--reference-n", type=int, default=64, help="photos for the bench reference (0: skip)")
    p.add_argument("--keep-db", action="store_true")


def pick_photos(images: str | None, n: int, work: Path) -> list[Path]:
    """``n`` photos: from ``images`` (or the shared datasets when present), else drawn rings."""
    from jewel_vision.evaluation.bench import find_images

    folder = Path(images) if images else DEFAULT_IMAGES
    if images or folder.is_dir():
        found = find_images(folder, n)
        return [found[k % len(found)] for k in range(n)]
    from PIL import Image, ImageDraw

    drawn = work / "drawn"
    drawn.mkdir()
    paths = []
    for k in range(n):
        rnd = random.Random(k)
        img = Image.new("RGB", (640, 640), (250, 250, 250))
        d = ImageDraw.Draw(img)
        r = rnd.randint(120, 220)
        tone = rnd.choice([(212, 175, 55), (192, 192, 200), (183, 110, 121)])
        d.ellipse((320 - r, 320 - r, 320 + r, 320 + r), outline=tone, width=rnd.randint(18, 40))
        d.ellipse((300, 320 - r - 30, 340, 320 - r + 10), fill=(rnd.randint(0, 255), 40, 200))
        paths.append(drawn / f"ring-{k}.jpg")
        img.save(paths[-1], quality=90)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_db(url: str, name: str) -> str:
    """``url`` with its database name replaced by ``name``."""
    return url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def fresh_database(pg_url: str, keep: bool) -> Iterator[str]:
    import psycopg

    name = f"jv_bench_load_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(pg_url, name)
    finally:
        if not keep:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def processes() -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for proc in procs:
            _stop(proc)


def prepare_shop(env: dict[str, str], username: str, password: str) -> None:
    """Migrate the fresh database and make a staff user (superuser) who may add products."""
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"], env=env, check=True)
    code = (
        "import os\nfrom django.contrib.auth import get_user_model\n"
        "u, _ = get_user_model().objects.get_or_create(username=os.environ['BENCH_USER'])\n"
        "u.is_staff = u.is_superuser = True\nu.set_password(os.environ['BENCH_PASSWORD'])\nu.save()\n"
    )
    subprocess.run([sys.executable, "-m", "django", "shell", "-c", code], stdout=subprocess.DEVNULL,
                   env={**env, "BENCH_USER": username, "BENCH_PASSWORD": password}, check=True)


def wait_http(url: str, proc: subprocess.Popen | None, timeout: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode})")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def form_fields(page: str) -> tuple[dict[str, str], str]:
    """The hidden inputs of the admin's add form (CSRF token, inline management forms) and the photo input's name."""
    hidden, file_name = {}, ""
    for tag in _INPUT.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("type") == "hidden" and "name" in attrs and "__prefix__" not in attrs["name"]:
            hidden[attrs["name"]] = attrs.get("value", "")
        elif attrs.get("type") == "file" and not file_name and "__prefix__" not in attrs.get("name", ""):
            file_name = attrs.get("name", "")
    return hidden, file_name


class Client:
    """One person's browser: a session logged in to the admin."""

    def __init__(self, base: str, username: str, password: str, add_path: str):
        import requests

        self.base, self.http, self.add_path = base.rstrip("/"), requests.Session(), add_path
        page = self.http.get(f"{self.base}/admin/login/", timeout=60)
        token = form_fields(page.text)[0]["csrfmiddlewaretoken"]
        r = self.http.post(f"{self.base}/admin/login/?next=/admin/", timeout=60, allow_redirects=False,
                           data={"csrfmiddlewaretoken": token, "username": username, "password": password,
                                 "next": "/admin/"}, headers={"Referer": f"{self.base}/admin/login/"})
        if r.status_code != 302:
            raise RuntimeError(f"admin login failed ({r.status_code})")

    def add_product(self, k: int, photo: Path) -> tuple[int, float, str]:
        """Add product ``k`` with ``photo`` in its photo inline: (HTTP status, ms of the upload POST, product pk or '')."""
        add_url = f"{self.base}{self.add_path}"
        page = self.http.get(add_url, timeout=120)
        if page.status_code != 200:
            return page.status_code, 0.0, ""
        data, file_field = form_fields(page.text)
        prefix = file_field.rsplit("-", 2)[0]
        data.update({"name": f"Load {k}", "sku": f"LOAD-{k}-{secrets.token_hex(3)}", "price": "120.00",
                     "stock": "3", "description": "", "published": "on", f"{prefix}-0-position": "0",
                     "_continue": "Save and continue editing"})
        began = time.perf_counter()
        with photo.open("rb") as fh:
            r = self.http.post(add_url, data=data, files={file_field: (photo.name, fh, "image/jpeg")},
                               headers={"Referer": add_url}, timeout=300, allow_redirects=False)
        ms = (time.perf_counter() - began) * 1000
        found = re.search(re.escape(self.add_path.removesuffix("add/")) + r"(\d+)/change/", r.headers.get("Location", ""))
        return r.status_code, ms, found.group(1) if (r.status_code == 302 and found) else ""


def upload_all(base: str, username: str, password: str, photos: list[Path], concurrency: int,
               add_path: str = "/admin/shop/product/add/") -> dict:
    """Send every photo with ``concurrency`` clients; statuses, upload times and the products made."""
    import requests

    counter = iter(range(len(photos)))
    lock = threading.Lock()
    results: list[tuple[int, float, str]] = []

    def client_loop(_: int) -> None:
        client = Client(base, username, password, add_path)
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            try:
                outcome = client.add_product(k, photos[k])
            except requests.RequestException as exc:
                outcome = (599, 0.0, "")
                print(f"upload {k}: {exc}", file=sys.stderr)
            with lock:
                results.append(outcome)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client_loop, range(concurrency)))
    return {"results": results, "seconds": time.perf_counter() - began}


def analysis_counts(database_url: str, product_ids: list[str]) -> dict[str, int]:
    """Current analyses of these products by status."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM jewel_vision_analysis WHERE is_current AND product_id = ANY(%s) GROUP BY status",
            (product_ids,),
        ).fetchall()
    return dict(rows)


def analysis_span_seconds(database_url: str, product_ids: list[str]) -> float:
    """Seconds from the first analysis started to the last one finished (the workers' busy span)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        first, last = conn.execute(
            "SELECT min(started_at), max(finished_at) FROM jewel_vision_analysis WHERE is_current AND product_id = ANY(%s)",
            (product_ids,),
        ).fetchone()
    return (last - first).total_seconds() if first and last else 0.0


def wait_for_analyses(database_url: str, product_ids: list[str], timeout: float) -> tuple[dict[str, int], float]:
    """Poll until every uploaded photo's analysis ended or ``timeout``; counts and seconds waited."""
    began = time.monotonic()
    while True:
        counts = analysis_counts(database_url, product_ids)
        ended = counts.get("done", 0) + counts.get("failed", 0)
        if ended >= len(product_ids) or time.monotonic() - began > timeout:
            return counts, time.monotonic() - began
        time.sleep(1)


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def reference_rate(photos: list[Path], n: int) -> float:
    """``jewel-vision bench``'s photos/s (its measurement, batch 16) on the first ``n`` distinct photos."""
    from jewel_vision.evaluation import bench
    from jewel_vision.vision.pipeline import PipelineConfig, get_pipeline

    distinct = list(dict.fromkeys(photos))[:n]
    return bench.run(get_pipeline(PipelineConfig()), distinct)["images_per_second"]


def run(args: argparse.Namespace) -> dict:
    """Set up what is missing, upload, wait for the analyses, then time the bench reference; the figures."""
    if args.server_url and not args.database_url:
        raise SystemExit("--server-url needs --database-url (where the analyses are read)")
    work = Path(tempfile.mkdtemp(prefix="jv-bench-load-"))
    photos = pick_photos(args.images, args.uploads, work)
    password = args.password or secrets.token_urlsafe(12)
    load = [os.getloadavg()[0]]
    with ExitStack() as stack:
        procs = stack.enter_context(processes())
        if args.server_url:
            base, database_url = args.server_url.rstrip("/"), args.database_url
        else:
            database_url = stack.enter_context(fresh_database(args.pg_url, args.keep_db))
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": args.settings, "DATABASE_URL": database_url,
               "CELERY_BROKER_URL": args.broker, "JEWEL_VISION_VAR_DIR": str(work),
               "JEWEL_VISION_MEDIA_ROOT": str(work / "media"), "DJANGO_DEBUG": "1",
               "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
               "PYTHONPATH": os.pathsep.join([os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])}
        if not args.server_url:
            prepare_shop(env, args.username, password)
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            procs.append(_start([sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                env, work / "server.log"))
        if args.workers:
            import redis

            redis.Redis.from_url(args.broker).flushdb()
            for k in range(args.workers):
                procs.append(_start(
                    [sys.executable, "-m", "celery", "-A", args.celery_app, "worker", "-Q", QUEUES, "--pool", "solo",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"load{k}@%h",
                     "--loglevel", "WARNING"], env, work / f"worker-{k}.log"))
        wait_http(f"{base}/admin/login/", procs[0] if procs and not args.server_url else None)
        print(f"uploading {args.uploads} photos to {base} with {args.concurrency} clients ...", file=sys.stderr)
        sent = upload_all(base, args.username, password, photos, args.concurrency, args.add_path)
        products = [pk for _, _, pk in sent["results"] if pk]
        print(f"{len(products)} uploaded in {sent['seconds']:.1f} s; waiting for the analyses ...", file=sys.stderr)
        counts, waited = wait_for_analyses(database_url, products, args.timeout)
        total = sent["seconds"] + waited
        span = analysis_span_seconds(database_url, products)
        load.append(os.getloadavg()[0])
    # Workers and server stopped: the reference has the machine to itself.
    statuses = [status for status, _, _ in sent["results"]]
    upload_ms = sorted(ms for s, ms, _ in sent["results"] if s == 302)
    done = counts.get("done", 0)
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "uploads": len(products),
        "uploads_attempted": args.uploads,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "lost": len(products) - done - counts.get("failed", 0),
        "server_errors": sum(s >= 500 for s in statuses),
        "rejected_uploads": sum(s < 500 and s != 302 for s in statuses),
        "p95_upload_ms": round(_p95(upload_ms), 1),
        "p50_upload_ms": round(upload_ms[len(upload_ms) // 2], 1) if upload_ms else 0.0,
        "upload_seconds": round(sent["seconds"], 1),
        "analyses_done": done,
        "analyses_failed": counts.get("failed", 0),
        "analyses_per_second": round(done / total, 3) if total else 0.0,
        "seconds_first_upload_to_last_analysis": round(total, 1),
        "analyses_per_second_while_busy": round(done / span, 3) if span else 0.0,
        "seconds_first_analysis_started_to_last_finished": round(span, 1),
        "photos": str(args.images or (DEFAULT_IMAGES if DEFAULT_IMAGES.is_dir() else "drawn rings")),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [round(x, 2) for x in load],
        "work_dir": str(work),
    }
    if args.reference_n:
        n = min(args.reference_n, len(set(photos)))
        out["bench_reference"] = round(reference_rate(photos, n), 3)
        out["bench_reference_photos"] = n
        out["analyses_vs_bench_reference"] = round(out["analyses_per_second"] / out["bench_reference"], 3)
    return out


def main(args: argparse.Namespace) -> int:
    out = run(args)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["lost"] == 0 and out["server_errors"] == 0 else 1
