"""Choosing a sweep's targets: lines from ``--targets FILE``, everything the registry links to a
provider (``--provider CODE``) or a province (``--province``), and saved scopes (``--scope NAME``).

A provider's targets are the domains of the websites its access records list, the addresses
filed for them, and the blocks its IP filing records give it (as CIDR lines). A province's are
the websites whose subject is in that province and the blocks recorded for that province. Lines
come out de-duplicated in a stable order, and every selection has a *scope key*, the same for
every sweep of the same scope, so two sweeps can be compared (``monitor.diff``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, select

from .models import SavedScope
from .store import MonitorStore


class TargetSelectionError(ValueError):
    """The selection names nothing, or names a scope, provider or file that does not exist."""


@dataclass
class Selection:
    """What a sweep was asked to cover (any mix; at least one)."""

    files: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    scope: str | None = None

    def empty(self) -> bool:
        return not (self.files or self.lines or self.providers or self.provinces or self.scope)

    def definition(self) -> dict[str, Any]:
        """The selection as stored in a saved scope (files are read: a scope keeps its lines)."""
        lines = list(self.lines)
        for f in self.files:
            lines += read_lines(f)
        return {"lines": lines, "providers": sorted(set(self.providers)), "provinces": sorted(set(self.provinces))}


def read_lines(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise TargetSelectionError(f"targets file {p} does not exist")
    return p.read_text(encoding="utf-8-sig").splitlines()


def _frame(engine: Engine, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    from sqlalchemy import text

    with engine.connect() as connection:
        return pd.read_sql_query(text(sql), connection, params=params)


def provider_targets(engine: Engine, code: str) -> list[str]:
    """Domains and filed addresses of the websites the provider's access records list, then its
    IP filing records' blocks."""
    known = _frame(engine, "SELECT code FROM providers WHERE code = :c", {"c": code})
    if known.empty:
        raise TargetSelectionError(f"no provider {code!r} in the registry")
    sites = _frame(engine, "SELECT website_id FROM access_records WHERE provider_code = :c", {"c": code})
    return _website_targets(engine, sites["website_id"].tolist()) + _blocks(
        engine, "SELECT cidr FROM ip_filing_records WHERE user_code = :c ORDER BY cidr", {"c": code})


def province_targets(engine: Engine, province: str) -> list[str]:
    from registry.fields import FieldError
    from registry.fields import province as province_name

    try:
        province = province_name(province)  # 京 / 北京 / 北京市 → 北京, as the registry stores it
    except FieldError as exc:
        raise TargetSelectionError(f"--province: {exc}") from None
    sites = _frame(engine, "SELECT w.id AS website_id FROM websites w JOIN subjects s ON s.id = w.subject_id "
                           "WHERE s.province = :p", {"p": province})
    return _website_targets(engine, sites["website_id"].tolist()) + _blocks(
        engine, "SELECT cidr FROM ip_filing_records WHERE province = :p ORDER BY cidr", {"p": province})


def _website_targets(engine: Engine, ids: list[int]) -> list[str]:
    if not ids:
        return []
    wanted = set(ids)
    domains = _frame(engine, "SELECT website_id, domain FROM website_domains ORDER BY id", {})
    addresses = _frame(engine, "SELECT website_id, ip FROM website_addresses ORDER BY id", {})
    out = domains.loc[domains["website_id"].isin(wanted), "domain"].tolist()
    out += addresses.loc[addresses["website_id"].isin(wanted), "ip"].tolist()
    return out


def _blocks(engine: Engine, sql: str, params: dict[str, Any]) -> list[str]:
    return _frame(engine, sql, params)["cidr"].tolist()


def _dedupe(lines: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            seen.setdefault(text, None)
    return list(seen)


@dataclass
class Resolved:
    lines: list[str]
    scope: dict[str, Any]
    scope_key: str


def resolve(engine: Engine, selection: Selection) -> Resolved:
    """The target lines of ``selection``, the scope as recorded on the sweep, and its scope key."""
    if selection.empty():
        raise TargetSelectionError("nothing to sweep: give --targets FILE, --provider CODE, --province or --scope NAME")
    definition: dict[str, Any] = {"lines": [], "providers": [], "provinces": []}
    scope: dict[str, Any] = {}
    if selection.scope:
        saved = get_scope(engine, selection.scope)
        if saved is None:
            raise TargetSelectionError(f"no saved scope {selection.scope!r} (icpwatch scope list)")
        for k in definition:
            definition[k] += list(saved.get(k) or [])
        scope["scope"] = selection.scope
    lines = list(definition["lines"]) + list(selection.lines)
    for f in selection.files:
        lines += read_lines(f)
    providers = list(dict.fromkeys(definition["providers"] + selection.providers))
    provinces = list(dict.fromkeys(definition["provinces"] + selection.provinces))
    for code in providers:
        lines += provider_targets(engine, code)
    for province in provinces:
        lines += province_targets(engine, province)
    lines = _dedupe(lines)
    scope.update({"files": [str(f) for f in selection.files], "providers": providers, "provinces": provinces,
                  "targets": len(lines)})
    if selection.scope and not (selection.files or selection.lines or selection.providers or selection.provinces):
        key = f"scope:{selection.scope}"
    else:
        digest = hashlib.sha256(json.dumps(sorted(lines), ensure_ascii=False).encode()).hexdigest()[:16]
        key = f"targets:{digest}"
    return Resolved(lines, scope, key)


# ---- saved scopes ---------------------------------------------------------------------------------
def save_scope(engine: Engine, name: str, selection: Selection, *, replace: bool = False) -> dict[str, Any]:
    definition = selection.definition()
    if not any(definition.values()):
        raise TargetSelectionError("a scope needs --targets FILE, --provider CODE or --province")
    store = MonitorStore(engine)
    with store.session() as s:
        row = s.scalar(select(SavedScope).where(SavedScope.name == name))
        if row is not None and not replace:
            raise TargetSelectionError(f"scope {name!r} exists (use --replace)")
        if row is None:
            row = SavedScope(name=name, definition=definition)
            s.add(row)
        else:
            row.definition = definition
    return {"name": name, **_describe(definition)}


def get_scope(engine: Engine, name: str) -> dict[str, Any] | None:
    store = MonitorStore(engine)
    with store.session() as s:
        row = s.scalar(select(SavedScope).where(SavedScope.name == name))
        return dict(row.definition) if row is not None else None


def list_scopes(engine: Engine) -> list[dict[str, Any]]:
    store = MonitorStore(engine)
    with store.session() as s:
        rows = s.scalars(select(SavedScope).order_by(SavedScope.name)).all()
        return [{"name": r.name, "created_at": r.created_at, **_describe(r.definition)} for r in rows]


def remove_scope(engine: Engine, name: str) -> bool:
    store = MonitorStore(engine)
    with store.session() as s:
        return bool(s.execute(delete(SavedScope).where(SavedScope.name == name)).rowcount)


def _describe(definition: dict[str, Any]) -> dict[str, Any]:
    return {"lines": len(definition.get("lines") or []), "providers": definition.get("providers") or [],
            "provinces": definition.get("provinces") or []}
