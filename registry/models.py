"""The tables of the system of record.

One filing (备案) has a subject (主体, identified by its subject filing number), a website (网站,
identified by its website filing number), the domains and addresses it was filed with, and the
access providers that serve it (access records, art. 18(5)). Beside the filings sit the IP filing
records (who was allocated which block and who uses it, art. 15), the domain filing records (which
registrar reported which domain, art. 16) and the blacklist (art. 12(9)).

Confidential columns (certificate numbers, contact phones, ID numbers; chapter 7) never hold plain
text: ``*_enc`` holds the AES-GCM token and ``*_hash`` the keyed hash used for exact matching.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from icpwatch.dbkit import NAMING_CONVENTION



def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Provider(Base):
    """An access provider (接入提供者); a provincial company points at its group company."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    province: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(64), index=True)
    licence_number: Mapped[str | None] = mapped_column(String(64))


class Subject(Base):
    """The holder of a subject filing number (主体备案号)."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    subject_type: Mapped[str] = mapped_column(String(8))
    province: Mapped[str] = mapped_column(String(16))
    certificate_enc: Mapped[str | None] = mapped_column(Text)
    certificate_hash: Mapped[str | None] = mapped_column(String(64), index=True)

    websites: Mapped[list[Website]] = relationship(back_populates="subject")


class Website(Base):
    """One filed website and its website filing number (网站备案号)."""

    __tablename__ = "websites"

    id: Mapped[int] = mapped_column(primary_key=True)
    website_number: Mapped[str] = mapped_column(String(64), unique=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="filed")
    licence_number: Mapped[str | None] = mapped_column(String(64))
    preapprovals: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(128))
    contact_phone_enc: Mapped[str | None] = mapped_column(Text)
    contact_phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    contact_id_enc: Mapped[str | None] = mapped_column(Text)
    contact_id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="websites")
    domains: Mapped[list[WebsiteDomain]] = relationship(cascade="all, delete-orphan")
    addresses: Mapped[list[WebsiteAddress]] = relationship(cascade="all, delete-orphan")
    access_records: Mapped[list[AccessRecord]] = relationship(cascade="all, delete-orphan")


class WebsiteDomain(Base):
    """A domain a website was filed with; ``independent_domain`` is what the filing covers."""

    __tablename__ = "website_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    independent_domain: Mapped[str] = mapped_column(String(255), index=True)


class WebsiteAddress(Base):
    """An address a website was filed with (sites reachable by IP alone are filed by IP)."""

    __tablename__ = "website_addresses"
    __table_args__ = (UniqueConstraint("website_id", "ip"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    ip: Mapped[str] = mapped_column(String(45), index=True)


class AccessRecord(Base):
    """Website × provider: a provider the filing says serves the site (art. 18(5) multi-access)."""

    __tablename__ = "access_records"
    __table_args__ = (UniqueConstraint("website_id", "provider_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    website_id: Mapped[int] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    provider_code: Mapped[str] = mapped_column(ForeignKey("providers.code"), index=True)
    addresses: Mapped[str | None] = mapped_column(Text)


class IPFilingRecord(Base):
    """A block an IP filing unit reported (art. 15), with the provider that uses it.

    ``first``/``last`` are the block's bounds as 32 hex digits (IPv4 mapped into ::ffff:0:0/96),
    so one string comparison finds the covering blocks on SQLite and PostgreSQL alike.
    """

    __tablename__ = "ip_filing_records"
    __table_args__ = (Index("ix_ip_filing_records_bounds", "first", "last"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cidr: Mapped[str] = mapped_column(String(64), unique=True)
    first: Mapped[str] = mapped_column(String(32))
    last: Mapped[str] = mapped_column(String(32))
    prefixlen: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    user_code: Mapped[str | None] = mapped_column(ForeignKey("providers.code"), index=True)
    province: Mapped[str | None] = mapped_column(String(16))
    reported_on: Mapped[date | None] = mapped_column(Date)


class DomainFilingRecord(Base):
    """A domain a domain filing unit (registrar) reported (art. 16)."""

    __tablename__ = "domain_filing_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    registrar: Mapped[str] = mapped_column(String(64), index=True)
    reported_on: Mapped[date | None] = mapped_column(Date)


class BlacklistEntry(Base):
    """A blacklisted subject or domain (art. 12(9)).

    ``match_key`` is what a lookup compares: the normalised domain, the subject name, or the keyed
    hash of a certificate number (whose plain value is kept only encrypted in ``value_enc``).
    """

    __tablename__ = "blacklist"
    __table_args__ = (UniqueConstraint("kind", "match_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    match_key: Mapped[str] = mapped_column(String(255))
    display_value: Mapped[str] = mapped_column(String(255))
    value_enc: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)


class ImportBatch(Base):
    """One run of ``registry import``: what was loaded, from which file (by hash), with what effect."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(512))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
