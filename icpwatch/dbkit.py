"""Database plumbing every package with tables shares: engines for the one ``--db`` URL, and
Alembic migrations kept per package.

Each package that owns tables (``registry``, ``crawler``, ``monitor``) keeps its own Alembic
history and version table in the one database, the way applications share a database in a larger
system: each upgrades only its own tables and never sees the others'. This module imports nothing
from those packages, so any of them may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError


# Named constraints, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DatabaseURLError(ValueError):
    """The ``--db`` value is not a database URL SQLAlchemy understands."""


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as shorthand for the psycopg 3 driver this package ships with."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Larger pages make the million-row B-trees shallower; it only takes effect on a new database
    # (before WAL is switched on), and is ignored on an existing one.
    cursor.execute("PRAGMA page_size=16384")
    # WAL lets a sweep read while an import writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Up to 256 MB of page cache (allocated only as used): a million-row import maintains indexes
    # on random keys (hashes, domains), and the default 2 MB cache makes every insert a page miss.
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


def create_engine_for(url: str) -> Engine:
    """An engine for ``url``: SQLite files get their folder and pragmas, PostgreSQL a checked pool."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise DatabaseURLError(f"not a database URL: {url!r} ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def migration_config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine, version_table: str) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": version_table}).get_current_revision()


def upgrade(engine: Engine, script_location: Path, version_table: str) -> None:
    """Bring one package's tables to its newest migration (a no-op when they are there)."""
    head = ScriptDirectory.from_config(migration_config(script_location)).get_current_head()
    if current_revision(engine, version_table) == head:
        return
    with engine.begin() as connection:
        command.upgrade(migration_config(script_location, connection), "head")


def _only(metadata: MetaData) -> Any:
    """An Alembic ``include_object`` that sees this package's tables and no one else's."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    return include_object


def schema_differences(engine: Engine, metadata: MetaData) -> list[Any]:
    """How the database's tables differ from ``metadata`` (empty when migrations match the models)."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _only(metadata)})
        return list(compare_metadata(context, metadata))


class PackageStore:
    """One package's tables on an engine: its migrations, its revision, the engine's life."""

    migrations: Path
    version_table: str

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def revision(self) -> str | None:
        return current_revision(self.engine, self.version_table)

    def upgrade(self) -> None:
        """Bring this package's tables to the newest migration (a no-op when they are there)."""
        upgrade(self.engine, self.migrations, self.version_table)

    def dispose(self) -> None:
        self.engine.dispose()


def open_engine(
    url: str, script_location: Path, version_table: str, *, error: type[Exception], what: str, migrate: bool = True
) -> Engine:
    """An engine on ``url`` with one package's tables migrated; failures raise ``error`` with a
    message that names ``what`` and the URL (password hidden)."""
    try:
        engine = create_engine_for(url)
    except DatabaseURLError as exc:
        raise error(str(exc)) from None
    try:
        if migrate:
            upgrade(engine, script_location, version_table)
    except OperationalError as exc:
        engine.dispose()
        raise error(f"cannot open {what} at {safe_url(url)}: {exc.orig}") from None
    return engine


def run_migrations(metadata: MetaData, version_table: str) -> None:
    """The body of every package's Alembic ``env.py``: migrate only this package's tables."""
    from alembic import context

    include_object = _only(metadata)

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
        return
    with create_engine_for(context.config.get_main_option("sqlalchemy.url") or "").begin() as connection:
        migrate(connection)
