"""Real services for the tests: PostgreSQL on 127.0.0.1:5432, or one started here from the
installed binaries (``initdb``/``pg_ctl``, run as the ``postgres`` user when the tests run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg

SHARED = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


def _answers(host: str, port: int) -> bool:
    try:
        with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """A server URL (database ``postgres``) for the whole test session."""
    if _answers("127.0.0.1", 5432):
        yield SHARED
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("nothing answers on 127.0.0.1:5432 and initdb/pg_ctl are not installed")
    data, port = workdir / "data", _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(workdir, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        run(pg_ctl, "-D", str(data), "-w", "-l", str(workdir / "log"), "-o",
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    except subprocess.CalledProcessError as exc:
        raise PostgresUnavailable(f"could not start a private PostgreSQL: {exc.stderr.strip()}") from None
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    host_port = server_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    name = f"icpwatch_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=int(port), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{host}:{port}/{name}"
    finally:
        with psycopg.connect(host=host, port=int(port), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
