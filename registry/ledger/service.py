"""The ``Ledger``: the one way entries get into the chain, and the reads over it.

Appends are serialised, because a hash chain needs a total order: every append runs in a
transaction that first takes the chain head — ``SELECT … FOR UPDATE`` on its one row on
PostgreSQL, ``BEGIN IMMEDIATE`` (the database's write lock) on SQLite — and only then reads what
it depends on (does this finding already have its entry? what is the object's total?). So two
processes recording the same finding cannot both see it missing, and the unique ``finding_ref``
is the backstop that makes a second entry impossible even for a writer that skipped the lock.

There is no update or delete here: a wrong entry is answered by a compensating one (``correct``),
a dismissed finding by a correction of its entry (``withdraw_finding``), a finding verified again
after a dismissal by a reinstatement — so a finding counts at most once however often it is
decided.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.models import DomainFilingRecord, IPFilingRecord, Provider
from registry.store import Store

from .chain import ChainReport, canonical_detail, entry_hash, walk
from .models import LedgerChainHead, LedgerEntry
from .standing import (
    OBJECT_KINDS,
    PENALTY_POINTS,
    SANCTIONS,
    Entry,
    Standing,
    ThresholdEvent,
    china_date,
    interface_state,
    new_crossings,
    replay,
)

HEAD_ID = 1
VERIFY_BATCH = 5000


class LedgerError(ValueError):
    """A ledger request that cannot be recorded as asked (the message says what and why)."""


class DuplicateEntry(LedgerError):
    """The event already has its entry (a penalty or training reference recorded before)."""

    def __init__(self, message: str, entry: Entry) -> None:
        super().__init__(message)
        self.entry = entry


@dataclass(frozen=True)
class FindingScore:
    """One verified finding as the ledger scores it (``Ledger.record_finding``'s arguments)."""

    finding_ref: str
    object_kind: str
    object_code: str
    points: int
    article: str
    code: str
    observed_at: datetime
    recorded_by: str
    detail: dict[str, Any] | None = None


def _need(value: str | None, what: str) -> str:
    if value is None or not str(value).strip():
        raise LedgerError(f"{what} is required")
    return str(value).strip()


def _not_future(day: date, what: str) -> date:
    today = china_date(datetime.now(timezone.utc))
    if day > today:
        raise LedgerError(f"{what} {day.isoformat()} is in the future (today in China is {today.isoformat()})")
    return day


def _object(kind: str, code: str | None) -> tuple[str, str]:
    if kind not in OBJECT_KINDS:
        raise LedgerError(f"unknown assessment object kind {kind!r} (one of {', '.join(OBJECT_KINDS)})")
    return kind, _need(code, f"the {kind} code")


#: where the registry knows each kind of assessment object from
KNOWN_OBJECTS = {"provider": Provider.code, "ip_unit": IPFilingRecord.unit, "domain_unit": DomainFilingRecord.registrar}


def _known(session: Session, object_kind: str, object_code: str) -> None:
    column = KNOWN_OBJECTS[object_kind]
    if session.scalar(select(column).where(column == object_code).limit(1)) is None:
        raise LedgerError(f"unknown {object_kind} {object_code!r}: the registry has no such "
                          f"{'provider' if object_kind == 'provider' else 'filing unit'} (import it first)")


class _Appender:
    """Appends inside one locked transaction; the head moves once, when the transaction ends."""

    def __init__(self, session: Session, head: LedgerChainHead) -> None:
        self.session = session
        self.head = head
        # The head row is written once, at the end (its trigger lets it only move forwards).
        self.seq, self.hash = head.seq, head.hash
        self.appended: list[LedgerEntry] = []

    def existing(self, finding_ref: str) -> LedgerEntry | None:
        return self.session.scalar(select(LedgerEntry).where(LedgerEntry.finding_ref == finding_ref))

    def net(self, original: LedgerEntry) -> int:
        """The points ``original`` counts for now, after its corrections and reinstatements."""
        adjustments = self.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.corrects_id == original.id))
        return original.points + int(adjustments or 0)

    def adjustments(self, original: LedgerEntry) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.corrects_id == original.id)) or 0)

    def append(self, *, object_kind: str, object_code: str, year: int, points: int, kind: str, article: str,
               code: str | None, finding_ref: str, occurred_on: date, recorded_by: str,
               reason: str | None = None, detail: dict[str, Any] | None = None,
               corrects_id: int | None = None) -> LedgerEntry:
        row = LedgerEntry(
            seq=self.seq + 1, year=year, object_kind=object_kind, object_code=object_code, points=points,
            kind=kind, article=article, code=code, finding_ref=finding_ref, occurred_on=occurred_on,
            reason=reason, detail=canonical_detail(detail), corrects_id=corrects_id, recorded_by=recorded_by,
            recorded_at=datetime.now(timezone.utc), prev_hash=self.hash)
        row.hash = entry_hash(row)
        self.session.add(row)
        self.session.flush()  # the id, for corrections and threshold events that point at it
        self.seq, self.hash = row.seq, row.hash
        self.appended.append(row)
        if points > 0:
            self._raise_thresholds(row)
        return row

    def _raise_thresholds(self, row: LedgerEntry) -> None:
        """Record each art. 43 threshold this entry reaches for the first time in its cycle."""
        in_cycle = (LedgerEntry.object_kind == row.object_kind, LedgerEntry.object_code == row.object_code,
                    LedgerEntry.year == row.year)
        total = int(self.session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0))
                                        .where(*in_cycle)) or 0)
        fired = [int(c) for c in self.session.scalars(
            select(LedgerEntry.code).where(*in_cycle, LedgerEntry.kind == "threshold"))]
        for threshold in new_crossings(total - row.points, total, fired):
            self.append(object_kind=row.object_kind, object_code=row.object_code, year=row.year, points=0,
                        kind="threshold", article="43", code=str(threshold),
                        finding_ref=f"threshold:{row.object_kind}:{row.object_code}:{row.year}:{threshold}",
                        occurred_on=china_date(row.recorded_at), recorded_by="ledger",
                        reason=SANCTIONS[threshold],
                        detail={"triggered_by": row.id, "total": total})


class Ledger:
    """The scoring ledger on a registry store (arts. 34–44, 55)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- appending -------------------------------------------------------------------------------

    @contextmanager
    def _appending(self) -> Iterator[_Appender]:
        with self.store.engine.connect() as connection, connection.begin():
            if connection.dialect.name == "sqlite":
                # pysqlite starts transactions lazily and deferred; IMMEDIATE takes the write lock
                # now, before the reads the append depends on.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            with Session(bind=connection, expire_on_commit=False, autoflush=True) as session:
                head = session.scalar(select(LedgerChainHead).where(LedgerChainHead.id == HEAD_ID)
                                      .with_for_update())
                if head is None:
                    raise LedgerError("the ledger's chain head is missing: the store was not migrated "
                                      "or was tampered with (run icpwatch ledger verify)")
                appender = _Appender(session, head)
                yield appender
                if appender.appended:
                    head.seq, head.hash = appender.seq, appender.hash
                    head.updated_at = datetime.now(timezone.utc)
                session.flush()

    def _append_one(self, operation: Any) -> Any:
        try:
            with self._appending() as appender:
                result = operation(appender)
        except IntegrityError as exc:
            # Only reachable by a writer that bypassed the lock: the unique reference held.
            raise LedgerError(f"the ledger refused a duplicate entry: {exc.orig}") from None
        return result

    def record_finding(self, *, finding_ref: str, object_kind: str, object_code: str, points: int, article: str,
                       code: str, observed_at: datetime, recorded_by: str,
                       detail: dict[str, Any] | None = None) -> Entry | None:
        """The verified finding's entry; ``None`` when it already counts (one entry per finding, ever).

        A finding whose entry was withdrawn (dismissed after being verified) and is verified again
        gets a reinstatement entry, so it counts once again — never twice.
        """
        score = FindingScore(finding_ref, object_kind, object_code, points, article, code, observed_at,
                             recorded_by, detail)
        return self.record_findings([score])[0]

    def record_findings(self, scores: Sequence[FindingScore]) -> list[Entry | None]:
        """``record_finding`` for many findings in one locked transaction (a sweep's verification)."""
        for score in scores:
            _object(score.object_kind, score.object_code)
            _need(score.finding_ref, "finding_ref")
            _need(score.recorded_by, "recorded_by")
            if score.points <= 0:
                raise LedgerError(f"{score.finding_ref}: a finding enters the ledger only with points "
                                  f"(arts. 41–42), not {score.points}")

        def operation(appender: _Appender) -> list[Entry | None]:
            results: list[Entry | None] = []
            for score in scores:
                original = appender.existing(score.finding_ref)
                if original is None:
                    observed_on = china_date(score.observed_at)
                    row = appender.append(
                        object_kind=score.object_kind, object_code=score.object_code.strip(),
                        year=observed_on.year, points=score.points, kind="finding", article=score.article,
                        code=score.code, finding_ref=score.finding_ref, occurred_on=observed_on,
                        recorded_by=score.recorded_by.strip(), detail=score.detail)
                elif appender.net(original) == 0:
                    row = self._adjust(appender, original, original.points, "reinstatement",
                                       "verified again after its dismissal", score.recorded_by.strip())
                else:
                    row = None
                results.append(Entry.from_row(row) if row is not None else None)
            return results

        return self._append_one(operation)

    def withdraw_finding(self, *, finding_ref: str, reason: str, recorded_by: str) -> Entry | None:
        """A compensating entry for a finding that no longer stands (dismissed after verification);
        ``None`` when it has no entry or already counts for nothing."""
        reason, recorded_by = _need(reason, "a reason"), _need(recorded_by, "recorded_by")

        def operation(appender: _Appender) -> Entry | None:
            original = appender.existing(finding_ref)
            if original is None or appender.net(original) == 0:
                return None
            return Entry.from_row(self._adjust(appender, original, -appender.net(original), "correction",
                                               reason, recorded_by))

        return self._append_one(operation)

    @staticmethod
    def _adjust(appender: _Appender, original: LedgerEntry, points: int, kind: str, reason: str,
                recorded_by: str) -> LedgerEntry:
        """A correction or reinstatement of ``original``: same object, cycle and day, opposite sign."""
        number = appender.adjustments(original) + 1
        return appender.append(
            object_kind=original.object_kind, object_code=original.object_code, year=original.year,
            points=points, kind=kind, article=original.article, code=original.code,
            finding_ref=f"{kind}:{original.id}:{number}", occurred_on=original.occurred_on,
            recorded_by=recorded_by, reason=reason, corrects_id=original.id,
            detail={"corrects": original.finding_ref, "corrects_seq": original.seq})

    def record_penalty(self, *, object_kind: str, object_code: str, penalty: str, reference: str,
                       decided_on: date, recorded_by: str, reason: str) -> Entry:
        """An administrative penalty (art. 40): +5 criticism or order to correct, +10 fine."""
        object_kind, object_code = _object(object_kind, object_code)
        if penalty not in PENALTY_POINTS:
            raise LedgerError(f"unknown penalty {penalty!r} (one of {', '.join(PENALTY_POINTS)})")
        reference = _need(reference, "the penalty's reference (decision number)")
        recorded_by, reason = _need(recorded_by, "recorded_by"), _need(reason, "a reason")
        _not_future(decided_on, "the penalty's decision date")
        finding_ref = f"penalty:{object_kind}:{object_code}:{reference}"

        def operation(appender: _Appender) -> Entry:
            _known(appender.session, object_kind, object_code)
            self._refuse_duplicate(appender, finding_ref, f"penalty {reference} of {object_code}")
            return Entry.from_row(appender.append(
                object_kind=object_kind, object_code=object_code, year=decided_on.year,
                points=PENALTY_POINTS[penalty], kind="penalty", article="40", code=penalty,
                finding_ref=finding_ref, occurred_on=decided_on, recorded_by=recorded_by, reason=reason,
                detail={"reference": reference}))

        return self._append_one(operation)

    def record_training(self, *, provider_code: str, passed_on: date, recorded_by: str, reference: str,
                        object_kind: str = "provider") -> Entry:
        """Training passed (art. 55): what reopens an interface suspended at 80 points."""
        object_kind, provider_code = _object(object_kind, provider_code)
        reference = _need(reference, "the training's reference")
        recorded_by = _need(recorded_by, "recorded_by")
        _not_future(passed_on, "the training's pass date")
        finding_ref = f"training:{object_kind}:{provider_code}:{reference}"

        def operation(appender: _Appender) -> Entry:
            _known(appender.session, object_kind, provider_code)
            self._refuse_duplicate(appender, finding_ref, f"training {reference} of {provider_code}")
            return Entry.from_row(appender.append(
                object_kind=object_kind, object_code=provider_code, year=passed_on.year, points=0,
                kind="training", article="55", code="passed", finding_ref=finding_ref, occurred_on=passed_on,
                recorded_by=recorded_by, reason="training passed", detail={"reference": reference}))

        return self._append_one(operation)

    def correct(self, *, entry_id: int, reason: str, recorded_by: str) -> Entry:
        """A compensating entry that takes back what entry ``entry_id`` still counts for.

        Findings and penalties lose their remaining points; a training is voided. Threshold events
        are sanctions already raised and are never taken back; corrections are not corrected again
        (reinstating is recording the finding again).
        """
        reason, recorded_by = _need(reason, "a reason"), _need(recorded_by, "recorded_by")

        def operation(appender: _Appender) -> Entry:
            target = appender.session.get(LedgerEntry, entry_id)
            if target is None:
                raise LedgerError(f"no ledger entry {entry_id}")
            if target.kind in ("correction", "reinstatement"):
                target = appender.session.get(LedgerEntry, target.corrects_id)
                assert target is not None
            if target.kind == "threshold":
                raise LedgerError(f"entry {entry_id} is an art. 43 sanction already raised; it cannot be corrected")
            if target.kind == "training":
                if appender.adjustments(target):
                    raise LedgerError(f"entry {entry_id} (training) was already voided")
                return Entry.from_row(self._adjust(appender, target, 0, "correction", reason, recorded_by))
            remaining = appender.net(target)
            if remaining == 0:
                raise LedgerError(f"entry {target.id} ({target.finding_ref}) already counts for nothing")
            return Entry.from_row(self._adjust(appender, target, -remaining, "correction", reason, recorded_by))

        return self._append_one(operation)

    @staticmethod
    def _refuse_duplicate(appender: _Appender, finding_ref: str, what: str) -> None:
        existing = appender.existing(finding_ref)
        if existing is not None:
            raise DuplicateEntry(f"{what} is already recorded as entry {existing.id} (seq {existing.seq})",
                                 Entry.from_row(existing))

    # -- reading ---------------------------------------------------------------------------------

    def entries(self, *, year: int | None = None, object_code: str | None = None,
                object_kind: str | None = None) -> list[Entry]:
        query = select(LedgerEntry).order_by(LedgerEntry.seq)
        if year is not None:
            query = query.where(LedgerEntry.year == year)
        if object_code is not None:
            query = query.where(LedgerEntry.object_code == object_code)
        if object_kind is not None:
            query = query.where(LedgerEntry.object_kind == object_kind)
        with self.store.session() as session:
            return [Entry.from_row(row) for row in session.scalars(query)]

    def _interface_entries(self, session: Session, object_kind: str | None, object_code: str | None) -> list[Any]:
        query = (select(LedgerEntry).where(LedgerEntry.kind.in_(("threshold", "training", "correction")))
                 .order_by(LedgerEntry.seq))
        if object_code is not None:
            query = query.where(LedgerEntry.object_code == object_code)
        if object_kind is not None:
            query = query.where(LedgerEntry.object_kind == object_kind)
        return list(session.scalars(query))

    def interface_state(self, provider_code: str, *, object_kind: str = "provider") -> str:
        """``open`` or ``suspended`` (art. 43(3), 55): the filing interface now."""
        with self.store.session() as session:
            return interface_state(self._interface_entries(session, object_kind, provider_code))

    def standings(self, year: int, *, object_code: str | None = None,
                  object_kind: str | None = None) -> list[Standing]:
        """Each assessment object with entries in ``year``: points, sanctions raised, interface."""
        if object_kind is not None:
            _object(object_kind, "-")
        entries = self.entries(year=year, object_code=object_code, object_kind=object_kind)
        by_object: dict[tuple[str, str], list[Entry]] = {}
        for entry in entries:
            by_object.setdefault((entry.object_kind, entry.object_code), []).append(entry)
        with self.store.session() as session:
            if object_code is not None and not by_object:
                provider = session.scalar(select(Provider.code).where(Provider.code == object_code))
                if provider is not None and object_kind in (None, "provider"):
                    by_object[("provider", object_code)] = []
            names = dict(session.execute(select(Provider.code, Provider.name)
                                         .where(Provider.code.in_([c for k, c in by_object if k == "provider"]))
                                         ).all())
            interface_rows = self._interface_entries(session, object_kind, object_code)
        standings = []
        for (kind, code), own in by_object.items():
            thresholds = [ThresholdEvent(int(e.code or 0), e.occurred_on, e.id, e.reason or "",
                                         _triggered_by(e)) for e in own if e.kind == "threshold"]
            standings.append(Standing(
                code=code, kind=kind, name=names.get(code, code) if kind == "provider" else code, year=year,
                points=sum(e.points for e in own), thresholds=thresholds,
                interface=interface_state(r for r in interface_rows
                                          if r.object_kind == kind and r.object_code == code),
                entries=own))
        standings.sort(key=lambda s: (-s.points, s.kind, s.code))
        return standings

    def monthly_points(self, year: int, object_code: str) -> dict[int, int]:
        """Points per month of ``year`` (by when each event happened; corrections count in the
        month of what they correct)."""
        months = {month: 0 for month in range(1, 13)}
        for entry in self.entries(year=year, object_code=object_code):
            if entry.occurred_on.year == year:
                months[entry.occurred_on.month] += entry.points
        return months

    # -- verifying -------------------------------------------------------------------------------

    def verify(self, *, anchor: tuple[int, str] | None = None) -> ChainReport:
        """Walk the chain from its first entry; name the first entry changed, removed or reordered.

        Then check the art. 43 events against a replay of the points (each recorded, each
        recorded once, by the entry that reached it). ``anchor`` (seq, hash) is a head published
        earlier: the chain must still hold that hash at that seq, which catches even a chain that
        was rewritten and re-hashed from that point on.
        """
        with self.store.session() as session:
            head = session.get(LedgerChainHead, HEAD_ID)
            if head is None:
                return ChainReport(False, 0, problem="the chain head row is missing")
            rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)
                                   .execution_options(yield_per=VERIFY_BATCH))
            anchored: list[Any] = []

            def watched() -> Iterator[Any]:
                for row in rows:
                    if anchor is not None and row.seq == anchor[0]:
                        anchored.append(row)
                    yield row

            report = walk(watched(), head_seq=head.seq, head_hash=head.hash)
            if not report.ok:
                return report
            if anchor is not None and (not anchored or anchored[0].hash != anchor[1]):
                return ChainReport(False, report.checked, anchored[0].id if anchored else None, anchor[0],
                                   f"seq {anchor[0]} does not hold the anchored hash {anchor[1][:12]}… — the "
                                   "chain was rewritten since the anchor was taken", head.seq, head.hash)
            problem = _threshold_problem(session)
            if problem is not None:
                return ChainReport(False, report.checked, problem[0], problem[1], problem[2], head.seq, head.hash)
            return report


def _triggered_by(entry: Any) -> int | None:
    import json

    return json.loads(entry.detail).get("triggered_by") if entry.detail else None


def _threshold_problem(session: Session) -> tuple[int | None, int | None, str] | None:
    """The first disagreement between the recorded art. 43 events and a replay of the points."""
    rows = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)
                                .execution_options(yield_per=VERIFY_BATCH)))
    expected = {(c.object_kind, c.object_code, c.year, c.threshold): c.triggered_by for c in replay(rows)}
    recorded: dict[tuple[str, str, int, int], Any] = {}
    for row in rows:
        if row.kind != "threshold":
            continue
        key = (row.object_kind, row.object_code, row.year, int(row.code or 0))
        if key in recorded:
            return row.id, row.seq, f"entry {row.id} (seq {row.seq}): threshold {key[3]} raised twice in {key[2]}"
        recorded[key] = row
        if key not in expected or _triggered_by(row) != expected[key]:
            return row.id, row.seq, (f"entry {row.id} (seq {row.seq}): threshold {key[3]} of {key[1]} in {key[2]} "
                                     "does not follow from the points recorded before it")
    for key, entry_id in expected.items():
        if key not in recorded:
            return entry_id, None, (f"entry {entry_id} brought {key[1]} to {key[3]} points in {key[2]} but no "
                                    "art. 43 event was recorded")
    return None
