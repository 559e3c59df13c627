"""The world spec: what a sandbox world serves and which registry records go with it.

A world is a YAML or JSON document with these top-level keys (all lists may be empty)::

    version: 1
    name: default
    seed: 7                       # informational: the generator's seed
    listen:                       # optional defaults for `world serve` (all loopback)
      dns: 127.0.0.1:5353
      http_port: 80
      https_port: 443
      rdap: 127.0.0.1:0
    providers:                    # every party: access providers, IP filing units, registrars
      - {code: CTG-GD, name: …, province: 粤, kind: access, parent_code: CTG, licence_number: …}
    blocks:                       # address blocks: who uses them, which IP unit reported them
      - {cidr: 127.16.0.0/16, provider: CTG-GD, unit: IPU-GD, asn: 64512, name: CTG-GD-NET,
         country: CN, reported_on: 2023-01-05}        # unit: null = no IP filing unit reported it
    sites:
      - id: s00001
        domains: [www.example.cn, example.cn]        # [] for a site reachable by IP only
        ips: [127.16.0.10]
        template: company                            # see sandbox.pages.TEMPLATES
        params: {layout: bottom-centre, style: plain, marks: [京ICP备2021000001号-1], …}
        charset: utf-8                               # utf-8 | gbk | gb18030
        declare: both                                # see DECLARES
        redirect: {kind: "301", target: "http://www.other.cn/"}   # optional, see REDIRECT_KINDS
        dns: ok                                      # see DNS_BEHAVIOURS
        hostile: null                                # see HOSTILE_KINDS
        https: true
        tls: ok                                      # ok | expired | wrong-host
    filings:   [{website_number, subject_name, subject_type, subject_province, website_name,
                 domains, ips, providers, status, licence_number, preapprovals, …}]
    domains:   [{domain, registrar, reported_on}]
    blacklist: [{kind: subject|domain, value, reason}]

Only loopback addresses, ever: every block, site address, listen address and every address
literal anywhere in the document must be in 127.0.0.0/8 (or be ::1); anything else is refused
with :class:`SpecError` naming the offending value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SPEC_VERSION = 1

PROVIDER_KINDS = ("access", "ip_unit", "registrar", "overseas")
TEMPLATES = ("company", "shop", "blog", "portal", "ip-site", "parked", "default-nginx",
             "default-apache", "default-iis", "redirect")
PARKED_TEMPLATES = ("parked", "default-nginx", "default-apache", "default-iis")
#: where and how the filing number sits on the page
LAYOUTS = ("bottom-centre", "top", "left", "middle", "fixed", "nolink", "link-below", "link-digits",
           "link-hash", "link-evil", "link-legacy", "image-alt", "image", "script", "hidden",
           "noscript", "none")
#: how the number is written
STYLES = ("plain", "fullwidth", "traditional", "spaces", "nbsp", "zero-width", "entities",
          "suffix-before", "label", "split", "linebreak")
CHARSETS = ("utf-8", "gbk", "gb18030")
#: header: charset only in Content-Type; meta: only <meta charset>; both; none;
#: header-wrong: Content-Type names a charset the bytes are not in (meta is right);
#: meta-wrong: <meta> names the wrong charset and the header none; alias: meta says gb2312 for GBK
DECLARES = ("header", "meta", "both", "none", "header-wrong", "meta-wrong", "alias")
REDIRECT_KINDS = ("301", "302", "307", "308", "meta", "meta-delay", "script", "chain", "loop",
                  "self", "private", "file", "https")
#: redirect kinds whose observation fails (a correct crawler stops: no finding)
FAILING_REDIRECTS = ("loop", "self", "private", "file")
DNS_BEHAVIOURS = ("ok", "cname", "truncate", "servfail", "timeout", "refused", "nxdomain")
FAILING_DNS = ("servfail", "timeout", "refused", "nxdomain")
HOSTILE_KINDS = ("never-ends", "slowloris", "bomb", "huge", "big-headers", "bad-chunked", "reset")
TLS_KINDS = ("ok", "expired", "wrong-host")
TOPICS = ("general", "news", "medicine", "audiovisual", "publishing", "education")
PREAPPROVAL_TOPICS = ("news", "medicine", "audiovisual", "publishing", "education")


class SpecError(ValueError):
    """A world spec that cannot be served (bad shape, unknown names, or a non-loopback address)."""


@dataclass(slots=True)
class Provider:
    code: str
    name: str
    province: str
    kind: str = "access"
    parent_code: str | None = None
    licence_number: str | None = None


@dataclass(slots=True)
class Block:
    cidr: str
    provider: str
    unit: str | None = None
    asn: int = 64512
    name: str = ""
    country: str = "CN"
    reported_on: str | None = None
    description: str = ""


@dataclass(slots=True)
class Redirect:
    kind: str
    target: str | None = None
    delay: int = 0


@dataclass(slots=True)
class Site:
    id: str
    domains: list[str]
    ips: list[str]
    template: str = "company"
    params: dict[str, Any] = field(default_factory=dict)
    charset: str = "utf-8"
    declare: str = "both"
    redirect: Redirect | None = None
    dns: str = "ok"
    hostile: str | None = None
    https: bool = True
    tls: str = "ok"

    @property
    def host(self) -> str:
        """The name a sweep targets: the first domain, or the first address for an IP-only site."""
        return self.domains[0] if self.domains else self.ips[0]


@dataclass(slots=True)
class Filing:
    website_number: str
    subject_name: str
    subject_type: str
    subject_province: str
    website_name: str
    domains: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    status: str = "filed"
    licence_number: str | None = None
    preapprovals: list[str] = field(default_factory=list)
    subject_certificate: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_id: str | None = None


@dataclass(slots=True)
class DomainRecord:
    domain: str
    registrar: str
    reported_on: str | None = None


@dataclass(slots=True)
class BlacklistEntry:
    kind: str
    value: str
    reason: str = ""


@dataclass(slots=True)
class World:
    name: str = "world"
    seed: int | None = None
    version: int = SPEC_VERSION
    listen: dict[str, Any] = field(default_factory=dict)
    providers: list[Provider] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    filings: list[Filing] = field(default_factory=list)
    domains: list[DomainRecord] = field(default_factory=list)
    blacklist: list[BlacklistEntry] = field(default_factory=list)

    # ---- convenience lookups (not serialised) -------------------------------------------
    def provider(self, code: str) -> Provider | None:
        return next((p for p in self.providers if p.code == code), None)

    def addresses(self) -> list[str]:
        """Every address some site is served on, in first-seen order."""
        seen: dict[str, None] = {}
        for site in self.sites:
            for ip in site.ips:
                seen.setdefault(ip, None)
        return list(seen)

    def block_of(self, ip: str) -> Block | None:
        return _BlockIndex(self.blocks).find(ip)

    def to_dict(self) -> dict[str, Any]:
        return world_to_dict(self)


class _BlockIndex:
    """Longest-prefix match of an address to a block (blocks are few; addresses many)."""

    def __init__(self, blocks: list[Block]) -> None:
        self._nets = sorted(((ipaddress.ip_network(b.cidr, strict=False), b) for b in blocks),
                            key=lambda nb: -nb[0].prefixlen)

        self._cache: dict[str, Block | None] = {}

    def find(self, ip: str) -> Block | None:
        try:
            return self._cache[ip]
        except KeyError:
            pass
        addr = ipaddress.ip_address(ip)
        found = None
        for net, block in self._nets:
            if addr.version == net.version and addr in net:
                found = block
                break
        self._cache[ip] = found
        return found


def block_index(blocks: list[Block]) -> _BlockIndex:
    return _BlockIndex(blocks)


# ---------------------------------------------------------------------------------------------
# loopback rule
# ---------------------------------------------------------------------------------------------
LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")


@lru_cache(maxsize=65536)
def is_loopback(value: str) -> bool:
    """True for an address or network entirely inside 127.0.0.0/8 or equal to ::1."""
    try:
        net = ipaddress.ip_network(value.strip("[]"), strict=False)
    except ValueError:
        return False
    if net.version == 4:
        return net.subnet_of(LOOPBACK_V4)
    return net.prefixlen == 128 and net.network_address == ipaddress.ip_address("::1")


def require_loopback(value: str, what: str) -> None:
    if not is_loopback(value):
        raise SpecError(f"{what}: {value!r} is not a loopback address; the sandbox serves and "
                        "talks to 127.0.0.0/8 and ::1 only")


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    """'127.0.0.1:53' -> ('127.0.0.1', 53); '[::1]:53' -> ('::1', 53); '127.0.0.1' -> default."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


_V4_LITERAL = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\w.])")
_V6_BRACKET = re.compile(r"\[([0-9A-Fa-f:.]+)\]")


def _scan_addresses(value: Any, path: str, problems: list[str]) -> None:
    """Every address literal anywhere in the document must be loopback."""
    if isinstance(value, dict):
        for key, item in value.items():
            _scan_addresses(item, f"{path}.{key}", problems)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _scan_addresses(item, f"{path}[{i}]", problems)
    elif isinstance(value, str):
        candidates = [m.group(0) for m in _V4_LITERAL.finditer(value)]
        candidates += [m.group(1) for m in _V6_BRACKET.finditer(value)]
        stripped = value.strip()
        if ":" in stripped and "/" not in stripped.split(":")[0]:
            try:  # a bare IPv6 literal or network
                ipaddress.ip_network(stripped, strict=False)
                candidates.append(stripped)
            except ValueError:
                pass
        for cand in candidates:
            try:
                ipaddress.ip_network(cand, strict=False)
            except ValueError:
                continue
            if not is_loopback(cand):
                problems.append(f"{path}: {cand!r} is not a loopback address (only 127.0.0.0/8 "
                                "and ::1 may appear in a world)")


# ---------------------------------------------------------------------------------------------
# (de)serialisation
# ---------------------------------------------------------------------------------------------
_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping, got {type(raw).__name__}")
    try:
        return cls(**raw)
    except TypeError as exc:
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))
        unknown = raw.keys() - names
        if unknown:
            raise SpecError(f"{path}: unknown key(s) {sorted(unknown)} for {cls.__name__}") from None
        raise SpecError(f"{path}: {exc}") from None


_V4_BYTES = re.compile(rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d{1,2})?")
_V6_BYTES = re.compile(rb"[0-9A-Fa-f:]*::[0-9A-Fa-f:]*(?:/\d{1,3})?")


def scan_text(text: str | bytes, where: str = "spec") -> None:
    """Refuse a document whose text names any address outside loopback.

    A whole-text scan (about a second for a 100,000-site world): every IPv4 literal, every
    compressed IPv6 literal and every bracketed one must be loopback.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    problems: list[str] = []
    candidates = set(_V4_BYTES.findall(data))
    if b"::" in data:
        candidates.update(c for c in _V6_BYTES.findall(data) if c.strip(b":"))
    if b"[" in data:
        candidates.update(m.group(1) for m in re.finditer(rb"\[([0-9A-Fa-f:.]+)\]", data))
    for cand in sorted(candidates):
        _scan_addresses(cand.decode("ascii"), where, problems)
    if problems:
        raise SpecError("refused: " + "; ".join(problems[:10]))


def world_from_dict(raw: dict[str, Any], *, validate_world: bool = True, scanned: bool = False) -> World:
    if not isinstance(raw, dict):
        raise SpecError("a world spec must be a mapping at the top level")
    if not scanned:
        problems: list[str] = []
        _scan_addresses(raw, "$", problems)
        if problems:
            raise SpecError("refused: " + "; ".join(problems[:10]))
    version = raw.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        raise SpecError(f"unsupported spec version {version!r} (this sandbox reads {SPEC_VERSION})")
    known = {"version", "name", "seed", "listen", "providers", "blocks", "sites", "filings",
             "domains", "blacklist"}
    unknown = set(raw) - known
    if unknown:
        raise SpecError(f"unknown top-level key(s) {sorted(unknown)}")
    sites = []
    for i, s in enumerate(raw.get("sites") or []):
        if not isinstance(s, dict):
            raise SpecError(f"sites[{i}]: expected a mapping")
        red = s.get("redirect")
        if red is not None:
            s = dict(s)
            s["redirect"] = _build(Redirect, red, f"sites[{i}].redirect")
        if "ips" not in s:
            raise SpecError(f"sites[{i}]: missing 'ips'")
        if "id" not in s:
            s = dict(s, id=f"s{i:06d}")
        sites.append(_build(Site, s, f"sites[{i}]"))
    world = World(
        name=str(raw.get("name", "world")),
        seed=raw.get("seed"),
        version=version,
        listen=dict(raw.get("listen") or {}),
        providers=[_build(Provider, p, f"providers[{i}]") for i, p in enumerate(raw.get("providers") or [])],
        blocks=[_build(Block, b, f"blocks[{i}]") for i, b in enumerate(raw.get("blocks") or [])],
        sites=sites,
        filings=[_build(Filing, f, f"filings[{i}]") for i, f in enumerate(raw.get("filings") or [])],
        domains=[_build(DomainRecord, d, f"domains[{i}]") for i, d in enumerate(raw.get("domains") or [])],
        blacklist=[_build(BlacklistEntry, b, f"blacklist[{i}]") for i, b in enumerate(raw.get("blacklist") or [])],
    )
    if validate_world:
        validate(world)
    return world


_SITE_DEFAULTS = {"template": "company", "charset": "utf-8", "declare": "both", "redirect": None,
                  "dns": "ok", "hostile": None, "https": True, "tls": "ok", "params": {}}


def _plain(obj: Any) -> dict[str, Any]:
    """Shallow dataclass -> dict, leaving out None and empty lists (readers default them)."""
    out = {}
    for name in obj.__slots__:
        value = getattr(obj, name)
        if value is None or value == []:
            continue
        out[name] = value
    return out


def world_to_dict(world: World) -> dict[str, Any]:
    sites = []
    for s in world.sites:
        d: dict[str, Any] = {"id": s.id, "domains": s.domains, "ips": s.ips}
        for key, default in _SITE_DEFAULTS.items():
            value = getattr(s, key)
            if value != default:
                d[key] = _plain(value) if isinstance(value, Redirect) else value
        sites.append(d)
    return {
        "version": world.version,
        "name": world.name,
        "seed": world.seed,
        "listen": world.listen,
        "providers": [_plain(p) for p in world.providers],
        "blocks": [_plain(b) for b in world.blocks],
        "sites": sites,
        "filings": [_plain(f) for f in world.filings],
        "domains": [_plain(d) for d in world.domains],
        "blacklist": [_plain(b) for b in world.blacklist],
    }


def load(path: str | Path, *, validate_world: bool = True) -> World:
    """Read a world from a .yaml/.yml or .json file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read world spec {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            raw = yaml.load(text, Loader=loader)  # noqa: S506 - safe loader
        scan_text(text, str(path))
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    return world_from_dict(raw, validate_world=validate_world, scanned=True)


def loads(text: str, fmt: str = "yaml") -> World:
    raw = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    return world_from_dict(raw)


def save(world: World, path: str | Path) -> Path:
    """Write a world as JSON (.json) or YAML (anything else)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = world_to_dict(world)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    else:
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(doc, fh, Dumper=dumper, allow_unicode=True, sort_keys=False, width=120)
    return path


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
_DOMAIN = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _check_domain(name: str) -> bool:
    return len(name) <= 253 and _DOMAIN.fullmatch(name) is not None


def validate(world: World) -> None:
    """Raise SpecError listing (up to 20) problems; loopback violations are always reported."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(msg)

    for key in ("dns", "rdap"):
        if key in world.listen:
            host, _ = split_hostport(str(world.listen[key]), 0)
            if not is_loopback(host):
                bad(f"listen.{key}: {host!r} is not a loopback address")
    codes = set()
    for p in world.providers:
        if p.code in codes:
            bad(f"provider {p.code!r} appears twice")
        codes.add(p.code)
        if p.kind not in PROVIDER_KINDS:
            bad(f"provider {p.code!r}: kind {p.kind!r} not one of {PROVIDER_KINDS}")
    for p in world.providers:
        if p.parent_code and p.parent_code not in codes:
            bad(f"provider {p.code!r}: parent {p.parent_code!r} is not a provider")
    nets = []
    for b in world.blocks:
        try:
            net = ipaddress.ip_network(b.cidr, strict=True)
        except ValueError as exc:
            bad(f"block {b.cidr!r}: {exc}")
            continue
        if not is_loopback(b.cidr):
            bad(f"block {b.cidr!r} is not inside 127.0.0.0/8: the sandbox serves loopback only")
            continue
        nets.append(net)
        if b.provider not in codes:
            bad(f"block {b.cidr}: provider {b.provider!r} is not in providers")
        if b.unit is not None and b.unit not in codes:
            bad(f"block {b.cidr}: IP filing unit {b.unit!r} is not in providers")
    index = _BlockIndex(world.blocks)
    ids: set[str] = set()
    hosts: dict[str, str] = {}
    for s in world.sites:
        where = f"site {s.id!r}"
        if s.id in ids:
            bad(f"{where} appears twice")
        ids.add(s.id)
        if not s.ips:
            bad(f"{where}: no addresses")
        for ip in s.ips:
            if not is_loopback(ip):
                bad(f"{where}: address {ip!r} is not a loopback address")
            elif world.blocks and index.find(ip) is None:
                bad(f"{where}: address {ip} is in no block")
        for d in s.domains:
            if not _check_domain(d):
                bad(f"{where}: {d!r} is not a lower-case punycode domain name")
            if d in hosts:
                bad(f"{where}: domain {d} is already served by site {hosts[d]!r}")
            hosts[d] = s.id
        if s.template not in TEMPLATES:
            bad(f"{where}: template {s.template!r} not one of {TEMPLATES}")
        layout = s.params.get("layout", "bottom-centre")
        if layout not in LAYOUTS:
            bad(f"{where}: layout {layout!r} not one of {LAYOUTS}")
        style = s.params.get("style", "plain")
        if style not in STYLES:
            bad(f"{where}: style {style!r} not one of {STYLES}")
        if s.charset not in CHARSETS:
            bad(f"{where}: charset {s.charset!r} not one of {CHARSETS}")
        if s.declare not in DECLARES:
            bad(f"{where}: declare {s.declare!r} not one of {DECLARES}")
        if s.dns not in DNS_BEHAVIOURS:
            bad(f"{where}: dns {s.dns!r} not one of {DNS_BEHAVIOURS}")
        if s.hostile is not None and s.hostile not in HOSTILE_KINDS:
            bad(f"{where}: hostile {s.hostile!r} not one of {HOSTILE_KINDS}")
        if s.tls not in TLS_KINDS:
            bad(f"{where}: tls {s.tls!r} not one of {TLS_KINDS}")
        if s.redirect is not None:
            r = s.redirect
            if r.kind not in REDIRECT_KINDS:
                bad(f"{where}: redirect kind {r.kind!r} not one of {REDIRECT_KINDS}")
            elif r.kind in ("301", "302", "307", "308", "meta", "meta-delay", "script", "chain"):
                if not r.target:
                    bad(f"{where}: redirect {r.kind} needs a target URL")
            if r.target:
                parts = urlsplit(r.target)
                if r.kind == "file":
                    if parts.scheme != "file":
                        bad(f"{where}: a 'file' redirect needs a file:// target")
                elif parts.scheme not in ("http", "https") or not parts.hostname:
                    bad(f"{where}: redirect target {r.target!r} is not an http(s) URL")
                elif parts.hostname and _looks_like_ip(parts.hostname) and not is_loopback(parts.hostname):
                    bad(f"{where}: redirect target {r.target!r} names a non-loopback address")
    for f in world.filings:
        for code in f.providers:
            if code not in codes:
                bad(f"filing {f.website_number}: provider {code!r} is not in providers")
        if f.status not in ("filed", "cancelled"):
            bad(f"filing {f.website_number}: status {f.status!r} is not filed/cancelled")
        if f.subject_type not in ("单位", "个人"):
            bad(f"filing {f.website_number}: subject_type {f.subject_type!r} is not 单位/个人")
        for ip in f.ips:
            if not is_loopback(ip):
                bad(f"filing {f.website_number}: address {ip!r} is not a loopback address")
    for d in world.domains:
        if d.registrar not in codes:
            bad(f"domain {d.domain}: registrar {d.registrar!r} is not in providers")
    for b in world.blacklist:
        if b.kind not in ("subject", "domain"):
            bad(f"blacklist entry {b.value!r}: kind {b.kind!r} is not subject/domain")
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise SpecError("invalid world spec: " + "; ".join(problems[:20]) + more)


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False
