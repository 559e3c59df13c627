"""What every workflow needs: the store, the protector, the calendar and the clock; the checks on who
may act; sealing a submitted record; the suspended-interface refusal; and the JSON view of an
application (confidential values masked, the password never).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm import Session

from registry import fields
from registry.fields import FieldError
from registry.models import AccessRecord, Provider, Subject, Website, WebsiteAddress, WebsiteDomain, utcnow
from registry.protection import Protector, mask_text, mask_value
from registry.store import Store
from registry.workdays import WorkCalendar

from .checks import CONFIDENTIAL
from .core import (
    Actor,
    Incomplete,
    InterfaceSuspended,
    NotAllowed,
    NotFound,
    TERMINAL,
    WorkflowError,
    move,
)
from .models import Application, Transition

CHINA = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")
RECORD_FIELDS = ("subject_name", "subject_type", "subject_province", "subject_certificate", "website_name",
                 "contact_name", "contact_phone", "contact_id", "domains", "ips", "services", "preapprovals")
LIST_FIELDS = ("domains", "ips", "services", "remove_access")


class InvalidRecord(WorkflowError):
    """A submitted record that is not shaped as a filing record (unknown field, wrong type)."""


class Concurrent(WorkflowError):
    """Another process moved the application first; read it again and retry."""


def _as_list(key: str, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("；", ";").split(";") if part.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise InvalidRecord(f"{key}: expected a list of text values (or one ';'-separated text), not {value!r}")


def shape_record(record: dict[str, Any], allowed: Iterable[str] = RECORD_FIELDS) -> dict[str, Any]:
    """The record with lists as lists and text stripped; unknown fields are refused by name."""
    if not isinstance(record, dict):
        raise InvalidRecord("a filing record is a mapping of field names to values")
    allowed = tuple(allowed)
    unknown = sorted(set(record) - set(allowed))
    if unknown:
        raise InvalidRecord(f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}")
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in LIST_FIELDS:
            out[key] = _as_list(key, value)
        elif key == "preapprovals":
            items = value or []
            if not isinstance(items, list) or not all(isinstance(p, dict) for p in items):
                raise InvalidRecord("preapprovals: expected a list of {service, document} entries")
            out[key] = [{"service": str(p.get("service", "")).strip(), "document": str(p.get("document", "")).strip()}
                        for p in items]
        elif value is None or isinstance(value, str):
            out[key] = (value or "").strip()
        else:
            raise InvalidRecord(f"{key}: expected text, not {type(value).__name__}")
    return out


class WorkflowBase:
    """The filing workflows on one store; see the package docstring for the paths."""

    def __init__(self, store: Store, protector: Protector, *, calendar: WorkCalendar | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.protector = protector
        self._calendar = calendar
        self.clock = clock

    # -- time ----------------------------------------------------------------------------------
    @property
    def calendar(self) -> WorkCalendar:
        """Read from the store each time unless given: a schedule loaded by another process counts."""
        return self._calendar or WorkCalendar.from_store(self.store)

    def today(self) -> date:
        return self.clock().astimezone(CHINA).date()

    # -- confidential values -------------------------------------------------------------------
    def seal(self, record: dict[str, Any]) -> dict[str, Any]:
        """Confidential values as {enc, hash, masked}; the plain text goes no further than here."""
        out = dict(record)
        for key, kind in CONFIDENTIAL.items():
            value = out.get(key)
            if isinstance(value, dict):
                continue
            if not value:
                out.pop(key, None)
                continue
            try:
                digest: str | None = self.protector.keyed_hash(kind, value)
            except ValueError:
                digest = None
            out[key] = {"enc": self.protector.encrypt(value), "hash": digest, "masked": mask_value(kind, value)}
        return out

    @staticmethod
    def masked(record: dict[str, Any] | None) -> dict[str, Any]:
        if not record:
            return {}
        return {k: (v.get("masked") if isinstance(v, dict) and "enc" in v else v) for k, v in record.items()}

    # -- who may act ---------------------------------------------------------------------------
    @staticmethod
    def provider(session: Session, code: str) -> Provider:
        row = session.scalar(select(Provider).where(Provider.code == code))
        if row is None:
            raise NotFound(f"no provider with code {code!r} (import providers first)")
        return row

    def ensure_interface_open(self, provider_code: str) -> None:
        """A provider whose filing interface the ledger suspended reports nothing (arts. 43(3), 55)."""
        from registry.ledger import Ledger, LedgerError

        ledger = Ledger(self.store)
        if ledger.interface_state(provider_code) == "open":
            return
        why = ""
        try:
            standings = ledger.standings(self.today().year, object_code=provider_code, object_kind="provider")
        except LedgerError:  # the refusal stands without the detail; the detail is a courtesy
            standings = []
        if standings:
            s = standings[0]
            crossed = ", ".join(str(t.threshold) for t in s.thresholds) or "none this year"
            why = f" ({s.points} points in {s.year}; thresholds crossed: {crossed})"
        raise InterfaceSuspended(
            f"provider {provider_code}: its filing interface is suspended by the scoring ledger{why}; "
            "submissions are refused until the authority reopens it once training is recorded as passed "
            "(arts. 43(3), 55)")

    @staticmethod
    def require_provider(actor: Actor, code: str | None, what: str) -> None:
        if actor.role != "provider" or actor.organisation != code:
            raise NotAllowed(f"{what} is the step of provider {code}; {actor.name} acts as "
                             f"{actor.role}{' ' + actor.organisation if actor.organisation else ''}")

    @staticmethod
    def require_authority(actor: Actor, application: Application, what: str) -> None:
        if actor.role != "authority":
            raise NotAllowed(f"{what} is the authority's step; {actor.name} acts as {actor.role}")
        try:
            province = fields.province(actor.organisation or "")
        except FieldError as exc:
            raise NotAllowed(f"{actor.name}: {exc}") from None
        if province != application.review_province:
            raise NotAllowed(f"application {application.id} is decided by the {application.review_province} "
                             f"authority (the subject's province); the {province} authority may not {what} it")

    @staticmethod
    def require_submitter(actor: Actor, what: str) -> None:
        if actor.role not in ("host", "provider"):
            raise NotAllowed(f"{what} is done by the host or by its provider on its behalf, not by {actor.role}")

    @staticmethod
    def province_of(value: str | None) -> str | None:
        try:
            return fields.province(value or "")
        except FieldError:
            return None

    # -- reading -------------------------------------------------------------------------------
    @staticmethod
    def application(session: Session, application_id: int) -> Application:
        row = session.get(Application, application_id)
        if row is None:
            raise NotFound(f"no filing application {application_id}")
        return row

    @staticmethod
    def website(session: Session, website_number: str, *, filed: bool = True) -> Website:
        try:
            number = fields.website_number(website_number)
        except FieldError as exc:
            raise NotFound(f"{website_number!r}: {exc}") from None
        row = session.scalar(select(Website).where(Website.website_number == number))
        if row is None:
            raise NotFound(f"no filing {number}")
        if filed and row.status != "filed":
            raise NotAllowed(f"filing {number} is {row.status}; only a filed site can go through this workflow")
        return row

    @staticmethod
    def access_codes(session: Session, website: Website) -> list[str]:
        return list(session.scalars(select(AccessRecord.provider_code).where(AccessRecord.website_id == website.id)
                                    .order_by(AccessRecord.provider_code)))

    def current_record(self, session: Session, website: Website) -> dict[str, Any]:
        """A filed site as a sealed record, the form the automatic check reads."""
        subject = session.get(Subject, website.subject_id)
        assert subject is not None

        def sealed(enc: str | None, digest: str | None, kind: str) -> dict[str, Any] | None:
            if not enc:
                return None
            return {"enc": enc, "hash": digest, "masked": mask_value(kind, self.protector.decrypt(enc))}

        record = {
            "subject_name": subject.name, "subject_type": subject.subject_type, "subject_province": subject.province,
            "subject_certificate": sealed(subject.certificate_enc, subject.certificate_hash, "subject_certificate"),
            "website_name": website.name, "contact_name": website.contact_name or "",
            "contact_phone": sealed(website.contact_phone_enc, website.contact_phone_hash, "contact_phone"),
            "contact_id": sealed(website.contact_id_enc, website.contact_id_hash, "contact_id"),
            "domains": list(session.scalars(select(WebsiteDomain.domain).where(WebsiteDomain.website_id == website.id)
                                            .order_by(WebsiteDomain.domain))),
            "ips": list(session.scalars(select(WebsiteAddress.ip).where(WebsiteAddress.website_id == website.id)
                                        .order_by(WebsiteAddress.ip))),
            "services": [s for s in (website.preapprovals or "").split(";") if s],
        }
        return {k: v for k, v in record.items() if v is not None}

    # -- writing -------------------------------------------------------------------------------
    def step(self, session: Session, application: Application, action: str, actor: Actor, *,
             reason: str | None = None, detail: dict[str, Any] | None = None) -> Transition:
        return move(session, application, action, actor, at=self.clock(), reason=reason, detail=detail)

    def commit_guard(self) -> Any:
        """A session whose commit turns a lost race on an application into :class:`Concurrent`."""
        return _Guarded(self.store)

    # -- output --------------------------------------------------------------------------------
    def view(self, session: Session, application: Application, *, history: bool = True) -> dict[str, Any]:
        """The application as ``--json`` shows it: confidential values masked, no password."""
        overdue = bool(application.due and application.state not in TERMINAL and application.state != "returned"
                       and self.today() > application.due)
        out: dict[str, Any] = {
            "id": application.id, "kind": application.kind, "state": application.state,
            "website_number": application.website_number, "provider": application.provider_code,
            "provider_province": application.provider_province, "review_province": application.review_province,
            "submitted_by": application.submitted_by, "submitted_role": application.submitted_role,
            "submitted_at": aware(application.submitted_at), "updated_at": aware(application.updated_at),
            "record": self.masked(application.payload), "truthfulness_check": application.truthfulness,
            "problems": application.checks or [], "result": application.result,
            "due": application.due, "due_estimated": application.due_estimated, "overdue": overdue,
        }
        if history:
            out["transitions"] = [
                {"action": t.action, "from": t.from_state, "to": t.to_state, "by": t.actor, "role": t.role,
                 "organisation": t.organisation, "at": aware(t.at), "reason": mask_text(t.reason) if t.reason else None,
                 "detail": t.detail}
                for t in session.scalars(select(Transition).where(Transition.application_id == application.id)
                                         .order_by(Transition.id))]
        return out


class _Guarded:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Session:
        self._cm = self.store.session()
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        try:
            handled = self._cm.__exit__(*exc)
        except StaleDataError:
            raise Concurrent(LOST_RACE) from None
        if isinstance(exc[1], StaleDataError):
            raise Concurrent(LOST_RACE) from None
        return handled


LOST_RACE = "another step was taken on this application at the same moment; read it again and retry"
RETRIES = 5


def retrying(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (one whole transaction) again when a concurrent writer got there first.

    Issuing numbers reads the last one and writes the next: two approvals at once may pick the same
    number, and the unique index refuses the second, as SQLite refuses a write to a snapshot another
    writer changed. The transaction is rolled back and run again; after a few tries the caller hears.
    """
    for _ in range(RETRIES - 1):
        try:
            return attempt()
        except IntegrityError:
            continue
        except OperationalError as exc:
            if "locked" not in str(exc.orig).lower() and "deadlock" not in str(exc.orig).lower():
                raise
            continue
    try:
        return attempt()
    except (IntegrityError, OperationalError) as exc:
        raise Concurrent(f"{LOST_RACE} ({type(exc.orig).__name__})") from None


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back the UTC time it stored without its zone; say it is UTC, as PostgreSQL does."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def need_reason(reason: str | None, what: str) -> str:
    if not (reason or "").strip():
        raise Incomplete(f"{what} needs a reason")
    return reason.strip()  # type: ignore[union-attr]
