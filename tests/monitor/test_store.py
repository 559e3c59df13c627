"""The monitor's tables live beside the registry's in one database, each with its own migrations."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from icpwatch.dbkit import migration_config, schema_differences
from monitor.models import Base as MonitorBase
from monitor.store import MIGRATIONS, MonitorStore
from registry.models import Base as RegistryBase
from registry.store import open_store

HEAD = ScriptDirectory.from_config(migration_config(MIGRATIONS)).get_current_head()


def test_monitor_and_registry_share_one_database(store_url: str) -> None:
    registry = open_store(store_url)
    try:
        monitor = MonitorStore(registry.engine)
        assert monitor.revision() == HEAD
        assert schema_differences(registry.engine, MonitorBase.metadata) == []
        assert schema_differences(registry.engine, RegistryBase.metadata) == []
        tables = set(inspect(registry.engine).get_table_names())
        assert {"sweeps", "findings", "finding_sightings", "schedules", "schedule_runs", "alert_deliveries",
                "registry_alembic_version", "monitor_alembic_version", "websites"} <= tables
        MonitorStore(registry.engine)  # opening again is a no-op
        assert monitor.revision() == HEAD
    finally:
        registry.dispose()
