"""Shared fixtures: the store on SQLite and PostgreSQL, and the protection key.

PostgreSQL is the server on 127.0.0.1:5432 when one answers, otherwise a private one started from
the installed binaries. Under CI=true a PostgreSQL that can be neither reached nor started fails the
run; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import PostgresUnavailable, postgres_server


@pytest.fixture(autouse=True)
def protection_key(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Every test gets a key of its own, kept outside the database as in production."""
    key = os.urandom(32)
    monkeypatch.setenv("ICPWATCH_KEY", base64.urlsafe_b64encode(key).decode())
    return key


@pytest.fixture(scope="session")
def postgres_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and is unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def postgres_url(postgres_base_url: str) -> Iterator[str]:
    from tests.services import temporary_database

    with temporary_database(postgres_base_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test against both stores the registry supports."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
