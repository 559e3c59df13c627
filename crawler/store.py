"""The crawler's own store: crawl runs and their observations, in the same database as the rest.

Tables (own ``MetaData``, own Alembic history in ``crawler/migrations`` with version table
``crawler_alembic_version``, so the registry's migrations are never touched):

* ``crawl_runs``   — id, started_at, finished_at, options (JSON), state (running|finished|interrupted|failed)
* ``observations`` — run_id, target_key (unique per run), status, final_url, ip, data (the whole
  observation as JSON), fetched_at

Inserts ignore a (run_id, target_key) already stored, so a resumed or repeated run stores nothing
twice.  The crawler knows nothing of the registry (DESIGN.md §3): this module imports neither
``registry`` nor ``monitor``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, BigInteger, Column, DateTime, ForeignKey, Index, Integer,
                        MetaData, String, Table, Text, UniqueConstraint, func, insert, select,
                        update)

from icpwatch.dbkit import PackageStore, open_engine

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "crawler_alembic_version"
RUN_STATES = ("running", "finished", "interrupted", "failed")

metadata = MetaData()

crawl_runs = Table(
    "crawl_runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("options", JSON, nullable=False, default=dict),
    Column("state", String(16), nullable=False, default="running"),
)

observations = Table(
    "observations", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("crawl_runs.id", ondelete="CASCADE"), nullable=False),
    Column("target_key", String(1024), nullable=False),
    Column("status", String(32), nullable=False),
    Column("final_url", Text, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("data", JSON, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "target_key", name="uq_observations_run_target"),
    Index("ix_observations_run_status", "run_id", "status"),
)


class CrawlStoreError(RuntimeError):
    """The crawl store cannot be opened, or a run named for resuming does not exist."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix (``20250101T120000Z-3f9a1c``)."""
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return utcnow()


class CrawlStore(PackageStore):
    """Crawl runs and observations on one engine.  Thread-safe as SQLAlchemy engines are."""

    migrations = MIGRATIONS
    version_table = VERSION_TABLE

    # -- runs --------------------------------------------------------------------------------
    def create_run(self, options: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        with self.engine.begin() as conn:
            conn.execute(insert(crawl_runs).values(id=run_id, started_at=utcnow(), finished_at=None,
                                                   options=dict(options or {}), state="running"))
        return run_id

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(crawl_runs).where(crawl_runs.c.id == run_id)).mappings().first()
        return dict(row) if row else None

    def resume_run(self, run_id: str) -> dict[str, Any]:
        """Mark an existing run as running again (``--run ID``); unknown ids are an error."""
        run = self.get_run(run_id)
        if run is None:
            raise CrawlStoreError(f"no crawl run {run_id!r} in this store")
        with self.engine.begin() as conn:
            conn.execute(update(crawl_runs).where(crawl_runs.c.id == run_id)
                         .values(state="running", finished_at=None))
        return run

    def finish_run(self, run_id: str, state: str = "finished") -> None:
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}")
        with self.engine.begin() as conn:
            conn.execute(update(crawl_runs).where(crawl_runs.c.id == run_id)
                         .values(state=state, finished_at=utcnow()))

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(crawl_runs).order_by(crawl_runs.c.started_at)).mappings()]

    # -- observations --------------------------------------------------------------------------
    def stored_keys(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(observations.c.target_key)
                                    .where(observations.c.run_id == run_id)).scalars())

    def add_observations(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Insert observations (each needs run_id and target_key); ones already stored for the
        same run and key are skipped.  Returns how many rows were new."""
        rows = [_row(item) for item in items]
        if not rows:
            return 0
        stmt: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            stmt = pg_insert(observations).on_conflict_do_nothing(index_elements=["run_id", "target_key"])
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            stmt = sqlite_insert(observations).on_conflict_do_nothing(index_elements=["run_id", "target_key"])
        else:  # pragma: no cover - other backends: skip the known keys first
            known = self.stored_keys(rows[0]["run_id"])
            rows = [r for r in rows if r["target_key"] not in known]
            stmt = insert(observations)
        if not rows:
            return 0
        with self.engine.begin() as conn:
            if self.dialect in ("postgresql", "sqlite"):
                # RETURNING counts the rows really inserted (executemany rowcounts do not)
                return len(conn.execute(stmt.returning(observations.c.id), rows).all())
            result = conn.execute(stmt, rows)
        count = result.rowcount
        return count if count is not None and count >= 0 else len(rows)

    def observations(self, run_id: str, *, after: int = 0) -> Iterator[dict[str, Any]]:
        """Every stored observation of a run (the ``data`` documents), in insertion order; with
        ``after``, only those stored after the row of that id (see :meth:`last_id`)."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=1000).execute(
                select(observations.c.data).where(observations.c.run_id == run_id, observations.c.id > after)
                .order_by(observations.c.id))
            for data in result.scalars():
                yield data

    def last_id(self) -> int:
        """The id of the newest stored observation of any run (0 when there is none)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(observations.c.id))).scalar_one() or 0)

    def count(self, run_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(observations)
                                    .where(observations.c.run_id == run_id)).scalar_one())

    def status_counts(self, run_id: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(observations.c.status, func.count())
                                .where(observations.c.run_id == run_id).group_by(observations.c.status))
            return {status: int(n) for status, n in rows}


def _row(item: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(item)
    return {
        "run_id": data["run_id"],
        "target_key": data["target_key"],
        "status": data.get("status") or "error",
        "final_url": data.get("final_url"),
        "ip": data.get("ip"),
        "data": data,
        "fetched_at": _parse_time(data.get("fetched_at")),
    }


def open_crawl_store(url: str, *, migrate: bool = True) -> CrawlStore:
    """The crawl store at ``url`` (same ``--db`` URL as every command), migrated to the newest schema."""
    return CrawlStore(open_engine(url, MIGRATIONS, VERSION_TABLE, error=CrawlStoreError, what="the crawl store",
                                  migrate=migrate))
