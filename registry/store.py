"""Opening the store: an SQLAlchemy engine on SQLite (default) or PostgreSQL, kept at the newest
schema by Alembic.

The schema is only ever changed through the migrations in ``registry/migrations``; ``open_store``
upgrades an older store before anything reads it, so every command sees the same tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(RuntimeError):
    """The store cannot be opened or is not at a schema this version understands."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets a sweep read while an import writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Up to 256 MB of page cache (allocated only as used): a million-row import maintains indexes
    # on random keys (hashes, domains), and the default 2 MB cache makes every insert a page miss.
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as shorthand for the psycopg 3 driver this package ships with."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r} ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class Store:
    """The registry's database: an engine plus a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is already there)."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if self.revision() == head:
            return
        with self.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    store = Store(create_store_engine(url))
    try:
        if migrate:
            store.upgrade()
    except OperationalError as exc:
        store.dispose()
        raise StoreError(f"cannot open the store at {_safe(url)}: {exc.orig}") from None
    return store


def _safe(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
