"""Issue 14: install the wheel into a fresh virtual environment and use it from a new project.

What a shop's developer does, following the README only: build a wheel of this repository,
``pip install`` it, write a new project whose models are unlike the demo's
(``catalog.Item``/``catalog.ItemPhoto``, ``tests/install/project``), ``makemigrations``,
``check``, ``migrate``, run a real Celery worker over Redis, upload photos, read the tags,
the widget, the item page and the API, and run ``jewel-vision requeue`` against that
project. A draft (unpublished) item must never be shown.

The fresh venv gets the wheel alone (``--no-deps``); the heavy dependencies (torch ...) are
seen through a ``.pth`` line pointing at this repository's venv site-packages, which holds
no ``shop``/``worker`` (only an editable finder, never loaded from a ``.pth`` line).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, photo_bytes, wait_for

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("JEWEL_VISION_INSTALL_REDIS_URL", "redis://127.0.0.1:6379/9")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env.update(CELERY_BROKER_URL=REDIS_URL, PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _run(args, cwd, timeout=300, check=True, **env):
    proc = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{args}: rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the working tree (the build leaves nothing in the repository)."""
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        path = ROOT / name
        if path.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)], cwd=src, timeout=300)
    (whl,) = out.glob("jewel_vision-*.whl")
    return whl


def test_the_wheel_ships_jewel_vision_alone_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"jewel_vision"}, top
    assert any(n.startswith("jewel_vision/vision/weights/") and n.endswith(".md") for n in names)
    assert "jewel_vision/templates/jewel_vision/widgets/cards.html" in names
    assert any(n.startswith("jewel_vision/static/jewel_vision/") for n in names)
    assert "jewel_vision/api/schema/v1.yaml" in names  # the committed API contract
    assert "jewel_vision/vision/weights/type_head.npz" in names


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=root.parent)
    py = root / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
         cwd=root.parent, timeout=300)
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root.parent).stdout.strip())
    (site / "zz_deps_from_repo_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


@pytest.fixture(scope="module")
def project(venv, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("newshop") / "newshop"
    shutil.copytree(HERE / "project", dest)
    shutil.copy2(HERE / "scenario.py", dest / "scenario.py")
    return dest


def test_the_fresh_venv_imports_the_wheel_not_the_repository(venv, project):
    py = str(venv / "bin" / "python")
    out = _run([py, "-c", "import jewel_vision; print(jewel_vision.__file__)"], cwd=project).stdout.strip()
    assert out.startswith(str(venv)) and "site-packages" in out, out
    for demo in ("shop", "worker"):
        proc = _run([py, "-c", f"import {demo}"], cwd=project, check=False)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, (demo, proc.stderr[-500:])


def test_a_new_project_checks_migrates_tags_and_hides_drafts(venv, project, tmp_path):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.flushdb()
    py = str(venv / "bin" / "python")
    _run([py, "manage.py", "makemigrations", "catalog"], cwd=project)
    checked = _run([py, "manage.py", "check"], cwd=project)
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr
    _run([py, "manage.py", "migrate", "--noinput"], cwd=project)

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, metal in enumerate(["gold", "silver", "gold"]):
        (photos / f"{i}-ring.jpg").write_bytes(photo_bytes("ring", metal, seed=i + 1))

    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [py, "-m", "celery", "-A", "myshop", "worker", "-Q", "jewel_vision", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=project, env=_env(), stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        result = _run([py, "scenario.py", str(photos)], cwd=project, timeout=400)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    worker_log = log.read_text(errors="replace")
    assert str(venv) in worker_log or "myshop" in worker_log

    assert out["jewel_vision_file"].startswith(str(venv)), out["jewel_vision_file"]
    assert [a["status"] for a in out["analyses"]] == ["done"] * 3, (out["analyses"], worker_log[-3000:])
    ids = {name: str(pk) for name, pk in out["items"].items()}
    draft = ids["Draft ring"]
    # Tags: the worker tagged every photo; shoppers see the published items' tags only.
    assert any(t.startswith("type:") for t in out["visible_tags"]["Gold ring"]), out["visible_tags"]
    assert out["visible_tags"]["Draft ring"] == [] and out["draft_tags_for_staff"], out
    assert out["tag_is_visible_types"] == ["bool"]
    # Similar items, the widget and the item page never show the draft.
    assert draft not in out["similar"]["Gold ring"] and draft not in out["similar"]["Silver ring"]
    assert ids["Silver ring"] in out["similar"]["Gold ring"]
    assert f'data-product="{ids["Silver ring"]}"' in out["widget"] and f'data-product="{draft}"' not in out["widget"]
    assert out["item_page"]["status"] == 200 and "type:" in out["item_page"]["html"]
    assert out["draft_page_status"] == 404
    # The API with no REST_FRAMEWORK setting.
    api = out["api"]
    assert api["products"]["status"] == 200 and sorted(api["products"]["ids"]) == sorted([ids["Gold ring"], ids["Silver ring"]])
    assert api["draft_detail"] == 404
    assert api["similar"]["status"] == 200 and f'"id":"{draft}"' not in api["similar"]["body"]
    for name in ("docs", "redoc", "browsable"):
        assert api[name]["status"] == 200, (name, api[name])
    assert api["bad_token"]["status"] == 401, api["bad_token"]

    # jewel-vision requeue runs against this project's settings, and only when told which.
    cli = str(venv / "bin" / "jewel-vision")
    ok = _run([cli, "requeue"], cwd=project, DJANGO_SETTINGS_MODULE="myshop.settings")
    assert "requeued" in ok.stdout, ok.stdout + ok.stderr
    ok = _run([cli, "requeue", "--settings", "myshop.settings"], cwd=project)
    assert "requeued" in ok.stdout
    bare = _run([cli, "requeue"], cwd=tmp_path, check=False)
    assert bare.returncode != 0 and "DJANGO_SETTINGS_MODULE" in bare.stderr, bare.stderr[-1000:]
    site = Path(_run([py, "-c", "import jewel_vision, os; print(os.path.dirname(jewel_vision.__file__))"], cwd=project).stdout.strip())
    assert not list(site.parent.glob("**/*.sqlite3")), "a database was created inside site-packages"
    client.flushdb()
    # Last, so everything above is checked either way: the schema of a project without
    # REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"].
    assert api["schema"]["status"] == 200, api["schema"]
