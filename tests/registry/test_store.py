"""The store on SQLite and PostgreSQL: migrations build exactly the models' schema."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from icpwatch.dbkit import migration_config, schema_differences
from registry.models import Base
from registry.store import MIGRATIONS, StoreError, open_store


def test_migrations_build_the_models_schema(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert schema_differences(store.engine, Base.metadata) == []
        tables = set(inspect(store.engine).get_table_names())
        assert {"providers", "subjects", "websites", "website_domains", "website_addresses", "access_records",
                "ip_filing_records", "domain_filing_records", "blacklist", "import_batches"} <= tables
        assert store.revision() == ScriptDirectory.from_config(migration_config(MIGRATIONS)).get_current_head()
    finally:
        store.dispose()


def test_opening_again_is_a_no_op(store_url: str) -> None:
    first = open_store(store_url)
    revision = first.revision()
    first.dispose()
    second = open_store(store_url)
    assert second.revision() == revision
    second.dispose()


def test_unreachable_store_is_a_clear_error(tmp_path) -> None:
    try:
        open_store("postgresql://nobody:secret@127.0.0.1:1/none")
    except StoreError as exc:
        assert "cannot open the store" in str(exc)
        assert "secret" not in str(exc)
    else:  # pragma: no cover - a server on port 1 would be a broken machine
        raise AssertionError("a store on port 1 opened")


def test_not_a_url_is_a_clear_error() -> None:
    try:
        open_store("no such thing")
    except StoreError as exc:
        assert "not a database URL" in str(exc)
    else:
        raise AssertionError("a bad URL opened")
