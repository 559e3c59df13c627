"""Independent domains (互联网独立域名), as the note to art. 2 of the filing rules defines them.

Art. 2: a website is filed by the *independent domain* it is reached by, "the domain registered
directly under a top-level registry" — or by IP address when it is reachable by address alone.
DESIGN.md §2 makes that measurable: the independent domain is the name registered directly under a
public suffix of the **ICANN section** of the Public Suffix List (``example.cn``,
``example.com.cn``, ``example.bj.cn``, ``example.com``, ``例子.中国``). Private-section suffixes
(``github.io``, ``vercel.app`` …) are hosting arrangements, not registries, so they do not create a
registrable domain: ``foo.github.io`` belongs to the independent domain ``github.io``. Sub-domains
are covered by the filing of their independent domain (art. 14(12)).

Names are handled in one canonical form everywhere: lower-case ASCII, IDN labels as punycode
(``xn--…``, UTS-46 mapping), no trailing dot; IP literals in ``ipaddress``'s compressed form.
``to_unicode`` gives the display form.

The Public Suffix List is the snapshot bundled with the ``publicsuffixlist`` package; nothing is
fetched at run time (a sweep must give the same answer offline and on every machine). Updating the
snapshot means upgrading the package.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Literal

import idna
import publicsuffixlist
from publicsuffixlist import PublicSuffixList

__all__ = [
    "InvalidHostname",
    "independent_domain",
    "independent_domains",
    "is_covered_by",
    "is_ip_literal",
    "normalize_host",
    "public_suffix",
    "quick_independent_domain",
    "to_unicode",
]


class InvalidHostname(ValueError):
    """A value that is neither a usable host name nor an IP literal; the message says why."""


def _load_icann_rules() -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """Exact, wildcard and exception rules of the ICANN section, plus the suffixes that have rules below them.

    Read from the snapshot bundled with ``publicsuffixlist`` (never fetched). Rules are stored in
    the canonical punycode form names are normalised to, so lookups need no IDNA work.
    """
    exact: set[str] = set()
    wild: set[str] = set()
    exc: set[str] = set()
    deeper: set[str] = set()  # s such that some rule is longer than s and ends in "." + s
    in_icann = False
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip()
            if line == "// ===BEGIN ICANN DOMAINS===":
                in_icann = True
            elif line == "// ===END ICANN DOMAINS===":
                break
            elif in_icann and line and not line.startswith("//"):
                rule = line.split()[0].lower()
                kind = exact
                if rule.startswith("!"):
                    kind, rule = exc, rule[1:]
                elif rule.startswith("*."):
                    kind, rule = wild, rule[2:]
                rule = idna.encode(rule, uts46=True).decode("ascii") if not rule.isascii() else rule
                kind.add(rule)
                labels = rule.split(".")
                deeper.update(".".join(labels[i:]) for i in range(1, len(labels)))
                if kind is wild:
                    deeper.add(rule)  # "*.x.y" matches a label below "x.y"
    if not exact:
        raise RuntimeError(f"no ICANN section found in {publicsuffixlist.PSLFILE}")
    return frozenset(exact), frozenset(wild), frozenset(exc), frozenset(deeper)


# Built once per process (~20 ms). Only the ICANN section: private-section suffixes are hosting
# arrangements, not registries (DESIGN.md §2). A TLD not on the list (``.local``, ``.internal``,
# typos) is *not* assumed to be public, or every ``foo.local`` would become its own independent
# domain. The sets are immutable, hence safe to share between threads.
_EXACT, _WILD, _EXC, _DEEPER = _load_icann_rules()


def _suffix_labels(labels: list[str]) -> int:
    """How many trailing labels form the ICANN public suffix (0: none), per the PSL algorithm.

    Walks right to left and stops as soon as no longer rule can match, so a typical name costs two
    or three set lookups. The longest matching rule wins, a wildcard matches one more label, and
    an exception rule prevails over both (publicsuffix.org "Algorithm"). Cross-checked against
    ``PublicSuffixList(only_icann=True)`` in the tests.
    """
    n = len(labels)
    count = 0
    s = ""
    for depth in range(1, n + 1):
        label = labels[n - depth]
        s = label if depth == 1 else label + "." + s
        if s in _EXC:
            return depth - 1
        if s in _EXACT and depth > count:
            count = depth
        if s in _WILD:
            # "*.ck" matches one label below "ck", and implies "ck" itself is a suffix.
            count = max(count, depth + 1 if depth < n else depth)
        if s not in _DEEPER:
            break
    return count


_MAX_NAME = 253  # RFC 1035: 255 octets on the wire = 253 characters in dotted text form
_MAX_LABEL = 63

# A name already in canonical form: LDH labels (plus "_", which real hosts use and DNS carries),
# no leading/trailing hyphen, last label not all-numeric (WHATWG URL parsing would read such a name
# as an IPv4 address). ``xn--`` labels additionally need the (cached) IDNA check. Matching this is
# the fast path that lets bulk work on stored names skip parsing entirely.
_CANONICAL = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"(?=[a-z0-9_-]*[a-z_-])[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)
_BAD_ASCII_CHAR = re.compile(r"[^a-z0-9_-]")
_PORT = re.compile(r"[0-9]{0,5}")


# --------------------------------------------------------------------------- parsing


def _host_part(value: str) -> str:
    """The host out of a host, ``host:port``, ``[v6]:port`` or URL, without further checks."""
    s = value.strip()
    if "://" in s:
        s = s.split("://", 1)[1]
    elif s.startswith("//"):
        s = s[2:]
    # Authority ends at the first path, query or fragment delimiter (RFC 3986 §3.2).
    for sep in "/?#\\":
        s = s.split(sep, 1)[0]
    s = s.rpartition("@")[2]  # userinfo: the host is after the *last* "@"
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise InvalidHostname(f"unclosed '[' in IP literal {value!r}")
        rest = s[end + 1 :]
        if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:])):
            raise InvalidHostname(f"unexpected text after IP literal in {value!r}")
        return s[1:end]
    if s.count(":") == 1:
        host, _, port = s.partition(":")
        if not _PORT.fullmatch(port):
            raise InvalidHostname(f"bad port {port!r} in {value!r}")
        return host
    # No colon, or several: an unbracketed IPv6 address (or garbage, rejected below).
    return s


def _ip_literal(host: str) -> str | None:
    """Canonical text of an IP literal, or None if ``host`` is not one."""
    if not host or not (host[0].isdigit() or ":" in host):  # cheap pre-check; names are the norm
        return None
    try:
        addr = ipaddress.ip_address(host[:-1] if host.endswith(".") and ":" not in host else host)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        # Python < 3.13 prints ::ffff:1.2.3.4 as ::ffff:102:304, 3.13+ as the dotted form; pin the
        # dotted form (RFC 5952 §5) so stored values do not depend on the interpreter version.
        return f"::ffff:{addr.ipv4_mapped}"
    return addr.compressed


@functools.lru_cache(maxsize=65536)
def _alabel_problem(label: str) -> str:
    """Why a lower-case ``xn--`` label is unacceptable, or "" when it is fine.

    It must decode to a valid IDNA 2008 label and encode back to itself, or "xn--" names that no
    registry could have issued would slip through. Cached: IDNA checks cost ~20 µs and the same
    labels (``xn--fiqs8s`` = 中国) recur in most IDN names.
    """
    try:
        ok = idna.alabel(idna.ulabel(label)).decode("ascii") == label
    except (idna.IDNAError, UnicodeError) as exc:
        return f"is not valid punycode/IDNA: {exc}"
    return "" if ok else "is not in canonical punycode form"


def _punycode_ok(name: str) -> bool:
    """True when every ``xn--`` label of a canonical-looking name passes the IDNA check."""
    return not any(label.startswith("xn--") and _alabel_problem(label) for label in name.split("."))


def _check_ascii_label(label: str, host: str) -> None:
    if not label:
        raise InvalidHostname(f"empty label in {host!r}")
    if len(label) > _MAX_LABEL:
        raise InvalidHostname(f"label {label[:20]!r}… in {host!r} is longer than {_MAX_LABEL} characters")
    if label.startswith("xn--"):
        problem = _alabel_problem(label)
        if problem:
            raise InvalidHostname(f"label {label!r} in {host!r} {problem}")
        return
    if label[0] == "-" or label[-1] == "-":
        raise InvalidHostname(f"label {label!r} in {host!r} starts or ends with a hyphen")
    bad = _BAD_ASCII_CHAR.search(label)
    if bad:
        raise InvalidHostname(f"label {label!r} in {host!r} contains {bad.group()!r}, not allowed in a host name")


def _to_ascii(host: str) -> str:
    """Lower-case ASCII form of a host name (no IP literal), validated label by label."""
    original = host
    if not host.isascii():
        # UTS-46 mapping first: folds case and full-width forms and turns the ideographic full
        # stop "。" (common in Chinese input) into ".", so labels are split correctly afterwards.
        try:
            host = idna.uts46_remap(host, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidHostname(f"{original!r} is not a valid internationalised host name: {exc}") from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]  # the root label; "example.com." and "example.com" are the same name
    if not host:
        raise InvalidHostname(f"empty host name in {original!r}")
    labels = host.split(".")
    out: list[str] = []
    for label in labels:
        if label.isascii():
            _check_ascii_label(label, original)
            out.append(label)
        else:
            try:
                out.append(idna.alabel(label).decode("ascii"))
            except (idna.IDNAError, UnicodeError) as exc:
                raise InvalidHostname(f"label {label!r} in {original!r} is not a valid IDN label: {exc}") from None
    if out[-1].isdigit():
        raise InvalidHostname(f"{original!r} looks like a malformed IPv4 address (numeric last label)")
    name = ".".join(out)
    if len(name) > _MAX_NAME:
        raise InvalidHostname(f"host name {original[:40]!r}… is longer than {_MAX_NAME} characters")
    return name


def normalize_host(value: str) -> str:
    """Canonical form of a host, ``host:port`` or URL; raises :class:`InvalidHostname`.

    ``http://user@Ex.COM:8080/path`` → ``ex.com``; ``例子。中国.`` → ``xn--fsqu00a.xn--fiqs8s``;
    ``[::1]:443`` → ``::1``; ``::ffff:1.2.3.4`` stays in that dotted form.
    """
    if not isinstance(value, str):
        raise TypeError(f"host must be str, not {type(value).__name__}")
    # Fast path: already canonical (the common case in bulk work on stored names).
    if len(value) <= _MAX_NAME and _CANONICAL.fullmatch(value) and ("xn--" not in value or _punycode_ok(value)):
        return value
    if not value.strip():
        raise InvalidHostname("empty host name")
    whole = _ip_literal(value.strip())  # bare IPv6 "2001:db8::1" has colons that look like a port
    if whole is not None:
        return whole
    host = _host_part(value)
    if not host:
        raise InvalidHostname(f"no host in {value!r}")
    ip = _ip_literal(host)
    if ip is not None:
        return ip
    if ":" in host or "%" in host:
        raise InvalidHostname(f"{host!r} in {value!r} is neither a host name nor an IP address")
    return _to_ascii(host)


def is_ip_literal(value: str) -> bool:
    """True when ``value`` (host, ``[v6]:port`` or URL) names an IP address rather than a domain."""
    try:
        stripped = value.strip()
        return _ip_literal(stripped) is not None or _ip_literal(_host_part(stripped)) is not None
    except (InvalidHostname, AttributeError):
        return False


# --------------------------------------------------------------------------- the rule


@functools.lru_cache(maxsize=1)
def _full_psl() -> PublicSuffixList:
    """Both sections of the bundled list (no network); only explains a rejection, so built lazily."""
    return PublicSuffixList(only_icann=False, accept_unknown=False)


def _no_suffix_error(host: str, shown: str) -> InvalidHostname:
    if _full_psl().publicsuffix(host) is not None:
        return InvalidHostname(
            f"{shown} is only under a private-section suffix of the Public Suffix List; "
            "an independent domain needs an ICANN-section suffix"
        )
    return InvalidHostname(f"{shown} is not under a public suffix (its top-level domain is not on the ICANN list)")


def public_suffix(host: str) -> str | None:
    """The ICANN-section public suffix of ``host`` (``com.cn`` for ``www.example.com.cn``).

    None for an IP literal or a name under no listed top-level domain.
    """
    name = normalize_host(host)
    if _ip_literal(name) is not None:
        return None
    labels = name.split(".")
    count = _suffix_labels(labels)
    return ".".join(labels[-count:]) if count else None


def _registrable(name: str) -> str | None:
    """Independent domain of a canonical non-IP name; None when it has none (see ``_independent``)."""
    labels = name.split(".")
    count = _suffix_labels(labels)
    if count == 0 or count >= len(labels):
        return None
    return name if count + 1 == len(labels) else ".".join(labels[-count - 1 :])


def _independent(name: str, value: str) -> str:
    """Independent domain of a canonical, non-IP name (``value`` is the input, for messages)."""
    registrable = _registrable(name)
    if registrable is not None:
        return registrable
    shown = repr(name) if name == value else f"{value!r} ({name})"
    if _suffix_labels(name.split(".")):
        raise InvalidHostname(f"{shown} is itself a public suffix, not a registrable domain")
    raise _no_suffix_error(name, shown)


def quick_independent_domain(value: str) -> str | None:
    """The independent domain of a name already in canonical form (lower-case ASCII, punycode, no
    trailing dot), by the cheap path; None when ``value`` needs :func:`independent_domain`: any other
    form, an IP literal, or a name that has no independent domain (that function says why).

    Bulk work on stored or exported names (imports, sweeps, index lookups) mostly takes this path:
    one regular-expression match and a few set lookups, with no memo to maintain.
    """
    if len(value) <= _MAX_NAME and _CANONICAL.fullmatch(value) and ("xn--" not in value or _punycode_ok(value)):
        return _registrable(value)
    return None


@functools.lru_cache(maxsize=65536)
def independent_domain(value: str) -> str | None:
    """The independent domain (art. 2 note) of a host or URL, punycode; None for an IP literal.

    Raises :class:`InvalidHostname` for a bare public suffix, a name under no ICANN suffix, or
    anything that is not a host name. Memoised: the same hosts recur across sweeps and lookups.
    """
    name = normalize_host(value)
    # Canonical host names never end in a digit-only label or contain ":"; IP literals may.
    if (name[-1].isdigit() or ":" in name) and _ip_literal(name) is not None:
        return None
    return _independent(name, value)


def independent_domains(
    values: Iterable[str], *, errors: Literal["none", "raise"] = "none"
) -> list[str | None]:
    """:func:`independent_domain` over many values, in order; for bulk imports and sweeps.

    Repeated values are computed once. By default an invalid value (or a non-string such as None
    or NaN) gives None, like an IP literal (one bad row must not abort matching a million; use :func:`is_ip_literal` or
    :func:`independent_domain` on the None rows when the reason matters); ``errors="raise"``
    raises :class:`InvalidHostname` at the first invalid value instead.
    """
    if errors not in ("raise", "none"):
        raise ValueError("errors must be 'raise' or 'none'")
    # Locals in the hot loop, and a plain dict rather than the lru_cache: with mostly distinct
    # names the LRU bookkeeping costs more than it saves, and this memo dies with the call.
    memo: dict[str, str | None] = {}
    memo_get = memo.get
    quick = quick_independent_domain
    slow = independent_domain.__wrapped__
    out: list[str | None] = []
    append = out.append
    missing = object()
    for value in values:
        result = memo_get(value, missing)
        if result is missing:
            result = None
            if not isinstance(value, str):  # None / NaN from a data frame: not a host
                if errors == "raise":
                    raise TypeError(f"host must be str, not {type(value).__name__}")
            else:
                result = quick(value)
                if result is None:  # not canonical, an IP, or an error to report: the full path
                    try:
                        result = slow(value)
                    except InvalidHostname:
                        if errors == "raise":
                            raise
            memo[value] = result
        append(result)  # type: ignore[arg-type]
    return out


def to_unicode(host: str) -> str:
    """Display form: punycode labels decoded (``xn--fsqu00a.xn--fiqs8s`` → ``例子.中国``)."""
    name = normalize_host(host)
    if "xn--" not in name:
        return name
    return ".".join(idna.ulabel(label) if label.startswith("xn--") else label for label in name.split("."))


def is_covered_by(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or a sub-domain of it (label-wise, not string-wise).

    ``www.example.cn`` and ``example.cn`` are covered by ``example.cn``; ``notexample.cn`` is not.
    An IP literal is covered only by the same address. Raises :class:`InvalidHostname` when
    ``domain`` is a bare public suffix or under none: a filing can never cover all of ``com.cn``.
    """
    h = normalize_host(host)
    d = normalize_host(domain)
    if _ip_literal(d) is not None or _ip_literal(h) is not None:
        return h == d
    if _registrable(d) is None:
        _independent(d, domain)  # raises the precise reason
    return h == d or h.endswith("." + d)
