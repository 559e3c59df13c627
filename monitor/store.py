"""The monitor's tables in the one database (own Alembic history, version table
``monitor_alembic_version``), opened beside the registry's and the crawler's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from icpwatch.dbkit import PackageStore

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "monitor_alembic_version"


class MonitorStore(PackageStore):
    """Sessions over the monitor's tables on an engine the caller owns."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE

    def __init__(self, engine: Engine, *, migrate: bool = True) -> None:
        super().__init__(engine)
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        if migrate:
            self.upgrade()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session
