"""Opening the store: an SQLAlchemy engine on SQLite (default) or PostgreSQL, with the registry's
tables kept at their newest schema by Alembic.

The schema is only ever changed through the migrations in ``registry/migrations``; ``open_store``
upgrades an older store before anything reads it, so every command sees the same tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from icpwatch.dbkit import PackageStore, open_engine

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "registry_alembic_version"


class StoreError(RuntimeError):
    """The store cannot be opened or is not at a schema this version understands."""


class Store(PackageStore):
    """The registry's database: an engine plus a session factory."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session


def open_store(url: str, *, migrate: bool = True) -> Store:
    return Store(open_engine(url, MIGRATIONS, VERSION_TABLE, error=StoreError, what="the store", migrate=migrate))
