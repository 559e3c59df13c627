"""Static extraction from a homepage's HTML: filing marks and how they are shown, links to the
filing system, contact details, redirect signals, and whether the page is a website at all.

This is the first, browser-free pass (DESIGN.md §2); the rendered check measures real boxes
later and refines ``in_footer``/``centred``/``hidden``. What it does, and why:

**Text the way a reader sees it.** Marks are found with the registry's grammar
(:func:`registry.numbers.find_marks`) over text built from the DOM: inline elements join with no
separator (``京ICP备<span>2021</span>000001号`` is one mark, and so is ``<b>京</b>ICP备…``), while
block elements (``p``, ``div``, ``li``, ``td`` …) are separated by a character the grammar cannot
cross, so numbers in two different divs never merge. ``<br>`` is a line break, which the grammar
may span, as a reader would. Every character keeps a pointer back to its text node, so each mark
is mapped to the element(s) holding it — for the footer, centring, hidden and link judgements.

**Every place a mark hides**, each reported with its ``source``: visible text (``text``);
``<noscript>`` (``noscript`` — not shown in a browser that runs scripts); ``alt`` and ``title``
of images (``image_alt``, ``image_title``); ``title``/``aria-label`` of other elements
(``attribute``); and inline scripts (``script``): JavaScript string escapes and
``String.fromCharCode(…)`` lists are decoded, the result is parsed as an HTML fragment and
scanned like the page, and placed where the script writes it (the element named by
``getElementById('…').innerHTML`` or ``$('#…').html(…)``, else the script's own position).
A number drawn only inside an image cannot be read statically: no mark (the rendered check
has the screenshot).

**Static estimates of the display duty** (each with its reason in ``MarkSeen.evidence``):

* ``in_footer`` — structure first (:func:`crawler.styles.footer_structure`): inside the page's
  ``<footer>`` or ``role=contentinfo``, or a box the page's CSS fixes to the bottom of the
  viewport → yes; inside ``<header>``/``role=banner`` or a box fixed to the top → no;
  absolutely positioned → unknown. Otherwise by position: yes when at most
  max(15 % of the page's text, 120 characters) of text follows it — the text analogue of the
  rendered rule "max(300 px, 15 %) below it" (:class:`StaticThresholds`).
* ``centred`` — ``<center>``, ``align=center``, a ``text-align`` inherited from the nearest
  ancestor that declares one, auto margins on a fixed-width box, flex centring; from inline
  styles and the page's own ``<style>`` rules, never from class names; unknown when the page
  relies on CSS that is not in it (:func:`crawler.styles.centred_reason`).
* ``hidden`` — ``display:none``, ``visibility:hidden``, ``opacity:0``, the ``hidden``
  attribute, ``<template>``, zero font size, off-screen offsets, text coloured like its
  background — on any part of the mark that carries digits (:func:`crawler.styles.hidden_reason`).
  ``aria-hidden`` is recorded nowhere as hiding: it hides from screen readers, not from eyes.
* ``link`` — a filing-system link around any part of the mark (the digits alone suffice), or
  one that follows it within ``link_gap_chars`` characters of text with no other number between
  — the analogue of "a link starting within 80 px below".

**Failures are unknown, never "no filing".** An empty body and a body that is not HTML come back
as ``kind="empty"`` / ``"not_html"`` with a note, not as a site without a number.
"""

from __future__ import annotations

import bisect
import copy
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from urllib.parse import unquote, urljoin, urlsplit

from lxml import etree
from lxml.etree import _Element

from registry.numbers import FilingMark, MarkKind, find_lookalikes, find_marks

from .contact import find_contacts
from .styles import StyleSheet, centred_reason, footer_structure, hidden_reason

__all__ = ["FILING_SYSTEM_HOSTS", "MarkSeen", "PageExtract", "StaticThresholds", "extract",
           "filing_link_kind"]


# --- links to the filing system ----------------------------------------------------------------

#: Accepted filing-system hosts (DESIGN.md §2): today's system, and the legacy ones (accepted
#: with a warning). The provincial legacy systems ``<code>cainfo.miitbeian.gov.cn`` are matched
#: by :data:`_PROVINCIAL_LEGACY_RE`. Hosts match exactly — never by prefix or suffix.
FILING_SYSTEM_HOSTS: dict[str, str] = {
    "beian.miit.gov.cn": "current",
    "www.beian.miit.gov.cn": "current",
    "www.miitbeian.gov.cn": "legacy",
    "miitbeian.gov.cn": "legacy",
    "www.miibeian.gov.cn": "legacy",
}
# Provincial systems were written both as www.zjcainfo.miitbeian.gov.cn and zj.cainfo…
_PROVINCIAL_LEGACY_RE = re.compile(r"^(?:www\.)?[a-z]{2,4}\.?cainfo\.miitbeian\.gov\.cn$")
_URL_NOISE_RE = re.compile(r"[\t\n\r]")
_DOTS = str.maketrans({"。": ".", "．": ".", "｡": "."})


def _host_kind(host: str) -> str | None:
    kind = FILING_SYSTEM_HOSTS.get(host)
    if kind is None and _PROVINCIAL_LEGACY_RE.match(host):
        kind = "legacy"
    return kind


def _resolve_href(href: str | None, base_url: str) -> tuple[str, str] | None:
    """(absolute URL, host) of a link a browser would follow to another page, or None.

    Parsed the way a browser does: tabs and newlines removed, backslashes read as slashes (so
    ``https://evil.example\\@beian.miit.gov.cn`` is evil.example), the host percent-decoded,
    ideographic full stops folded, lower-cased, the trailing dot dropped. A missing, empty or
    fragment-only (``#…``) href and non-HTTP schemes (``javascript:``, ``mailto:``) are no link.
    """
    if href is None:
        return None
    href = _URL_NOISE_RE.sub("", href).strip()
    if not href or href.startswith("#"):
        return None
    absolute = urljoin(base_url, href.replace("\\", "/"))
    try:
        parts = urlsplit(absolute)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    host = unquote(host).translate(_DOTS).lower().rstrip(".")
    return absolute, host


def _filing_link(href: str | None, base_url: str) -> tuple[str, str, str] | None:
    """(absolute URL, host, kind) when ``href`` leads to a filing system, else None.

    Most links of a page are skipped without parsing: a filing-system URL spells "beian" in
    its host, unless it is percent-encoded or relative to a page on the filing system itself.
    """
    if href is None:
        return None
    low = href.lower()
    if "beian" not in low and not any(c in low for c in "%\t\n\r") \
            and "beian" not in base_url.lower():
        return None
    resolved = _resolve_href(href, base_url)
    kind = _host_kind(resolved[1]) if resolved else None
    return (resolved[0], resolved[1], kind) if kind else None


def filing_link_kind(href: str | None, base_url: str) -> str | None:
    """``"current"`` or ``"legacy"`` when ``href`` (resolved against ``base_url``) leads to a
    filing system, else None."""
    link = _filing_link(href, base_url)
    return link[2] if link else None


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaticThresholds:
    """The static pass's thresholds (DESIGN.md: settings, not literals in code).

    ``footer_tail_*``: a mark counts as in the footer when at most max(fraction × the page's
    text, min_chars) characters of text follow it — the text analogue of the rendered rule
    "no more than max(300 px, 15 %) of the page lies below it". ``link_gap_chars``: a link to the
    filing system that does not wrap the mark still belongs to it when it starts within this many
    characters of text after it (the analogue of "within 80 px below"; about two footer lines).
    ``parked_max_chars``: a parking or default-server phrase in the text (not the title) counts
    only on a page with less text than this — a real site may quote "Welcome to nginx!".
    """

    footer_tail_fraction: float = 0.15
    footer_tail_min_chars: int = 120
    link_gap_chars: int = 60
    parked_max_chars: int = 3000
    text_cap_chars: int = 4000


DEFAULT_THRESHOLDS = StaticThresholds()


# --- results -----------------------------------------------------------------------------------

@dataclass
class MarkSeen:
    """One filing mark found statically, with the static estimates of how it is displayed."""

    text: str                  # as written on the page (entities resolved)
    number: str                # canonical form, e.g. 京ICP备2021000001号-1
    kind: str                  # MarkKind value: website_filing, licence, telecom_licence …
    province: str | None
    placeholder: bool
    valid: bool
    source: str                # "text" | "image_alt" | "image_title" | "script" | "noscript" | "attribute"
    in_footer: bool | None     # None: cannot be told without a browser
    centred: bool | None
    hidden: bool
    link_href: str | None      # the filing-system link wrapping or following it
    link_kind: str | None      # "current" | "legacy" | None
    is_icp: bool = True        # an ICP filing or operating licence (not a telecom licence)
    reason: str | None = None  # why not valid, when not valid
    #: why each estimate came out as it did: {"footer": …, "centred": …, "hidden": …, "link": …}
    evidence: dict[str, str] = field(default_factory=dict)

    @property
    def displayed(self) -> bool | None:
        """Whether a reader of the page sees it, statically: visible text → yes; hidden, inside
        <noscript>, or only a tooltip/attribute → no; image alt or script-written → unknown (the
        image or the script shows *something*; the rendered check tells what)."""
        if self.hidden or self.source in ("noscript", "image_title", "attribute"):
            return False
        if self.source == "text":
            return True
        return None

    def to_dict(self) -> dict:
        # every value is plain but the evidence dict: one shallow copy (asdict's deep walk cost more)
        out = {name: getattr(self, name) for name in _MARK_FIELDS}
        out["evidence"] = dict(self.evidence)
        out["displayed"] = self.displayed
        return out


_MARK_FIELDS = tuple(f.name for f in fields(MarkSeen))


@dataclass
class PageExtract:
    """Everything the static pass saw on one page."""

    kind: str                        # "site" | "parked" | "default_server" | "empty" | "not_html"
    title: str | None
    marks: list[MarkSeen]
    filing_links: list[dict]         # {href, host, kind, text, source}
    contact: dict[str, list[str]]    # {"phone": […], "email": […], "address": […]}
    meta_refresh: dict | None        # {"delay": float, "url": absolute URL}
    script_redirects: list[str]      # absolute URLs of location changes in inline scripts
    public_security: list[str]       # normalised 公网安备 numbers (never ICP)
    notes: list[str] = field(default_factory=list)  # why a kind was chosen, what was not judged
    #: False when the page could not be read to its end (a missing mark is then unknown)
    complete: bool = True
    #: the text a reader sees, whitespace folded, capped at ``StaticThresholds.text_cap_chars``
    #: (what the monitor classifies for pre-approval fields, art. 20)
    text: str = ""
    #: marks shaped like filings the grammar rejects (贵ICP备…, 京ICP备XXXXXXXX号): a page that
    #: shows one shows a placeholder, not "no number"
    lookalike_marks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        # one level of copying is enough (the values are lists and dicts of plain values), and
        # dataclasses.asdict's deep walk was a measurable part of the crawler's cost per page
        out = {f.name: copy.copy(getattr(self, f.name)) for f in fields(self)}
        out["marks"] = [m.to_dict() for m in self.marks]
        return out


def _no_page(kind: str, note: str) -> PageExtract:
    return PageExtract(kind=kind, title=None, marks=[], filing_links=[],
                       contact={"phone": [], "email": [], "address": []}, meta_refresh=None,
                       script_redirects=[], public_security=[], notes=[note])


# --- the text a reader sees --------------------------------------------------------------------

#: separates blocks in the scanned text; not whitespace, so the grammar's \s* cannot cross it
HARD = "\x00"
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li "
    "main menu nav noscript ol option p pre section summary table tbody td template tfoot th "
    "thead tr ul".split())
# Not rendered as page text: scripts and styles (scanned separately), the head (its title is
# read separately), fallback content a modern browser never shows.
_SKIP_TAGS = frozenset("script style head title iframe object embed noembed noframes frameset "
                       "datalist".split())
_DIGIT_RE = re.compile(r"[0-9０-９]")
_TEXT_CHAR_RE = re.compile(r"[\s\x00]+")


@dataclass
class _Stream:
    """Text of one DOM (the page, or a fragment a script writes) with a map back to its nodes."""

    text: str
    seg_starts: list[int]           # where each text node starts in ``text``
    seg_nodes: list[_Element]       # the element whose .text it is, or the child whose .tail
    seg_tails: list[bool]
    starts: dict[_Element, int]     # where each element starts in ``text``
    source: str                     # "text" for the page, "script" for a fragment


def _read(root: _Element, source: str) -> _Stream:
    """Walk ``root`` once, building the reader's text (see the module docstring).

    The hottest loop of the module (every element of every page), hence the local aliases.
    """
    parts: list[str] = []
    seg_starts: list[int] = []
    seg_nodes: list[_Element] = []
    seg_tails: list[bool] = []
    starts: dict[_Element, int] = {}
    add_part, add_start, add_node, add_tail = (parts.append, seg_starts.append, seg_nodes.append,
                                               seg_tails.append)
    blocks, skips = _BLOCK_TAGS, _SKIP_TAGS
    n = 0
    hard = True  # the text ends with a block separator (or is empty)
    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, el in walker:
        if event == "start":
            tag = el.tag
            starts[el] = n
            if tag in skips:
                walker.skip_subtree()
                continue
            if tag in blocks:
                if not hard:
                    add_part(HARD)
                    n += 1
                    hard = True
            elif tag == "br":
                add_part("\n")
                n += 1
            text = el.text
            if text:
                add_start(n)
                add_node(el)
                add_tail(False)
                add_part(text)
                n += len(text)
                hard = False
            continue
        if not hard and event == "end" and el.tag in blocks:
            add_part(HARD)
            n += 1
            hard = True
        tail = el.tail
        if tail and el is not root:
            add_start(n)
            add_node(el)
            add_tail(True)
            add_part(tail)
            n += len(tail)
            hard = False
    return _Stream("".join(parts), seg_starts, seg_nodes, seg_tails, starts, source)


# --- scripts -----------------------------------------------------------------------------------

_FROM_CHAR_CODE_RE = re.compile(
    r"String\s*\.\s*fromCharCode\s*\(\s*((?:0[xX][0-9a-fA-F]+|\d+)(?:\s*,\s*(?:0[xX][0-9a-fA-F]+|\d+))*)"
    r"\s*\)")
_JS_ESCAPE_RE = re.compile(r"\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(.))",
                           re.S)
# 'a' + 'b' → 'ab': pages split numbers into concatenated literals ('京ICP备' + '2021…').
_CONCAT_RE = re.compile(r"(['\"`])\s*\+\s*(['\"`])")
_JS_SIMPLE = {"n": "\n", "t": "\t", "r": "\r"}
# A cheap test before parsing a script as HTML: something of a mark's shape is in it.
_MAYBE_MARK_RE = re.compile(r"[IiＩｉ]\s*[CcＣｃ]\s*[PpＰｐ]|公\s*[网網]\s*安|[备備]\s*案|"
                            r"[ABＡＢ][12１２]\s*[-－]")
_WRITE_TARGET_RE = re.compile(
    r"getElementById\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\.\s*"
    r"(?:innerHTML|innerText|textContent|outerHTML|insertAdjacentHTML)"
    r"|\$\(\s*['\"]#([\w-]+)['\"]\s*\)\s*\.\s*(?:html|text|append|prepend)\s*\(")
# Each pattern starts with its literal word, so the engine skips to candidates at C speed; what
# the word is a property of (window., top., document. … or nothing, but not myobj.) is checked
# by _global_location() afterwards.
_QUOTED = r"(['\"`])((?:\\.|(?!\1).){0,2048}?)\1(?!\s*\+)"  # a literal not followed by +
_LOCATION_RES = (
    re.compile(rf"location(?:\s*\.\s*href|\s*\[\s*['\"]href['\"]\s*\])?\s*=(?!=)\s*{_QUOTED}"),
    re.compile(rf"location\s*\.\s*(?:replace|assign)\s*\(\s*{_QUOTED}\s*\)"),
    re.compile(rf"navigate\s*\(\s*{_QUOTED}\s*\)"),
)
_LOCATION_OWNERS = frozenset({"window", "self", "top", "parent", "document", "this"})
_IDENT_TAIL_RE = re.compile(r"[\w$]+\s*$")  # the identifier before a "."


def _global_location(text: str, start: int) -> bool:
    """Whether the word at ``start`` is the page's location (``location``, ``window.location``,
    ``window.top.location`` …) and not some object's property (``myobj.location``)."""
    j = start
    while True:
        base = max(0, j - 40)
        before = text[base:j].rstrip()
        if not before.endswith("."):
            return not before or not (before[-1].isalnum() or before[-1] in "_$")
        owner = _IDENT_TAIL_RE.search(before, 0, len(before) - 1)
        if owner is None or owner.group().strip() not in _LOCATION_OWNERS:
            return False
        j = base + owner.start()


def _js_unescape(m: re.Match[str]) -> str:
    code = m.group(1) or m.group(2) or m.group(3)
    if code is not None:
        return chr(int(code, 16)) if int(code, 16) <= 0x10FFFF else ""
    return _JS_SIMPLE.get(m.group(4), m.group(4))


def decode_script(text: str) -> str:
    """A script's text with ``String.fromCharCode(…)`` lists and string escapes decoded and
    adjacent string literals joined, so that what the script writes can be read (surrogate
    pairs joined, lone ones replaced)."""
    if "fromCharCode" in text:
        def chars(m: re.Match[str]) -> str:
            codes = (int(c, 16) if c.strip().lower().startswith("0x") else int(c)
                     for c in m.group(1).split(","))
            return '"' + "".join(chr(c) for c in codes if c <= 0x10FFFF) + '"'
        text = _FROM_CHAR_CODE_RE.sub(chars, text)
    if "\\" in text:
        text = _JS_ESCAPE_RE.sub(_js_unescape, text)
    if "+" in text:
        text = _CONCAT_RE.sub("", text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _script_location_urls(script: str, base: str) -> Iterator[str]:
    """Literal targets of ``location`` changes in (decoded) script text, made absolute."""
    found = sorted((m.start(), m.group(2).strip()) for pattern in _LOCATION_RES
                   for m in pattern.finditer(script) if _global_location(script, m.start()))
    for _, target in found:
        if not target or "${" in target or target.startswith("#"):
            continue
        resolved = _resolve_href(target, base)
        if resolved is not None:
            yield resolved[0]


# --- the page ----------------------------------------------------------------------------------

# Plain lxml elements (not lxml.html's HtmlElement classes, whose per-node class lookup costs a
# third of the walk); the parser's encoding is fixed because the text is already decoded.
_LOCAL = threading.local()


def _parser() -> etree.HTMLParser:
    """This thread's parser (lxml parsers must not be shared between threads).

    Plain lxml elements (not lxml.html's HtmlElement classes, whose per-node class lookup costs a
    third of the walk); the encoding is fixed because the text is already decoded; huge_tree
    because libxml2 otherwise stops at 256 levels of nesting and drops the rest of the page —
    and the footer is at the end.
    """
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = etree.HTMLParser(encoding="utf-8", remove_comments=False,
                                                  remove_pis=False, huge_tree=True)
    return parser


def _parse(html: str) -> tuple[_Element, str | None]:
    """The document root, and why the parser stopped early (None when it read everything)."""
    parser = _parser()
    # Bytes, not str: lxml refuses a str with an XML encoding declaration or control characters.
    root = etree.fromstring(html.encode("utf-8", "replace"), parser=parser)
    if root is None:
        raise ValueError("no document")
    fatal = next((e for e in parser.error_log if e.level_name == "FATAL"), None)
    return root, (f"the parser stopped early ({fatal.message.strip()}): the rest of the page "
                  "was not read" if fatal is not None else None)


class _Page:
    """One parsed page: its DOM, its styles, and the fragments its scripts write."""

    def __init__(self, root: _Element, base_url: str, thresholds: StaticThresholds) -> None:
        self.root = root
        self.thresholds = thresholds
        base = root.find(".//base[@href]")
        self.base = urljoin(base_url, base.get("href").strip()) if base is not None else base_url
        self._styles: StyleSheet | None = None
        self.graft: dict[_Element, _Element] = {}   # fragment root → where its script writes
        self.main = _read(root, "text")
        self.text_chars = len(_TEXT_CHAR_RE.sub("", self.main.text))
        self._ids: dict[str, _Element] | None = None

    @property
    def styles(self) -> StyleSheet:
        """The page's CSS, read only when a mark needs judging."""
        if self._styles is None:
            self._styles = StyleSheet(self.root)
        return self._styles

    # ancestors, across fragments
    def chain(self, el: _Element) -> list[_Element]:
        out: list[_Element] = []
        node: _Element | None = el
        while node is not None:
            out.append(node)
            node = self.graft.get(node) if node in self.graft else node.getparent()
        return out

    def element_by_id(self, ident: str) -> _Element | None:
        if self._ids is None:
            self._ids = {el.get("id"): el for el in self.root.iter() if el.get("id")}
        return self._ids.get(ident)

    def main_offset(self, el: _Element) -> int | None:
        """Where ``el`` (or the element a fragment is grafted on) sits in the page text."""
        for node in self.chain(el):
            if node in self.main.starts:
                return self.main.starts[node]
        return None

    # judgements
    def in_footer(self, chain: list[_Element], offset: int | None) -> tuple[bool | None, str]:
        structural = footer_structure(chain, self.styles)
        if structural is not None:
            return structural
        if offset is None:
            return None, "its position in the page is unknown"
        after = len(_TEXT_CHAR_RE.sub("", self.main.text[offset:]))
        limit = max(self.thresholds.footer_tail_fraction * self.text_chars,
                    self.thresholds.footer_tail_min_chars)
        share = after / self.text_chars if self.text_chars else 0.0
        verdict = after <= limit
        return verdict, (f"{after} of {self.text_chars} characters of text ({share:.0%}) follow it; "
                         f"the footer allowance is {limit:.0f}")


def _lowest_common(page: _Page, elements: list[_Element]) -> _Element:
    chains = [page.chain(el) for el in elements]
    common = set(chains[0]).intersection(*map(set, chains[1:])) if len(chains) > 1 else chains[0]
    return next(el for el in chains[0] if el in common)


def _anchor_of(chain: Iterable[_Element]) -> _Element | None:
    return next((el for el in chain if el.tag in ("a", "area") and el.get("href") is not None),
                None)


class _Collector:
    """Marks and links of one page, from every source, in document order per source."""

    def __init__(self, page: _Page) -> None:
        self.page = page
        self.marks: list[tuple[FilingMark, MarkSeen]] = []
        self.links: list[dict] = []
        # the stream last scanned, its filing links and where its ICP marks start (for the
        # attribute marks of the same DOM, which share its links)
        self._context: tuple[_Stream, list[tuple[int, _Element, str, str]], list[int]] | None = None

    # -- a stream (the page, or a script's fragment)
    def stream(self, stream: _Stream, anchors: list[_Element]) -> list[FilingMark]:
        """Scan one stream; returns the marks found in it (for blanking them out)."""
        page = self.page
        found = find_marks(stream.text)
        links = []
        for a in anchors:
            link = _filing_link(a.get("href"), page.base)
            if link is not None:
                href, host, kind = link
                links.append((stream.starts.get(a, 0), a, href, kind))
                text = " ".join("".join(a.itertext()).split()) or " ".join(
                    (img.get("alt") or "").strip() for img in a.iter("img")).strip()
                self.links.append({"href": href, "host": host, "kind": kind,
                                   "text": text,
                                   "source": self._source(a, stream.source)})
        icp_starts = [fm.span[0] for fm in found if fm.is_icp]
        self._context = (stream, links, icp_starts)
        for fm in found:
            start, end = fm.span
            pieces = self._pieces(stream, start, end)
            if not pieces:
                continue
            holder = _lowest_common(page, [el for el, _ in pieces])
            digit_holders = [el for el, digits in pieces if digits] or [holder]
            # On the page itself, what counts is the text after the mark; a fragment sits where
            # its script writes.
            offset = end if stream.source == "text" else page.main_offset(holder)
            seen = self._judge(fm, holder, digit_holders, self._source(holder, stream.source),
                               offset)
            self._link(seen, pieces, end)
            self.marks.append((fm, seen))
        return found

    def _pieces(self, stream: _Stream, start: int, end: int) -> list[tuple[_Element, bool]]:
        """(element holding the text, whether that part has digits) for each text node of
        ``[start, end)``."""
        out: list[tuple[_Element, bool]] = []
        i = max(0, bisect.bisect_right(stream.seg_starts, start) - 1)
        while i < len(stream.seg_starts) and stream.seg_starts[i] < end:
            node = stream.seg_nodes[i]
            holder = node.getparent() if stream.seg_tails[i] else node
            seg_end = stream.seg_starts[i + 1] if i + 1 < len(stream.seg_starts) else len(stream.text)
            part = stream.text[max(start, stream.seg_starts[i]):min(end, seg_end)]
            if holder is not None and part.strip():
                out.append((holder, bool(_DIGIT_RE.search(part))))
            i += 1
        return out

    def _source(self, el: _Element, default: str) -> str:
        """``default``, or "noscript" for page content inside <noscript>."""
        if default != "script" and any(a.tag == "noscript" for a in self.page.chain(el)):
            return "noscript"
        return default

    def _judge(self, fm: FilingMark, holder: _Element, digit_holders: list[_Element],
               source: str, offset: int | None) -> MarkSeen:
        page = self.page
        chain = page.chain(holder)
        evidence: dict[str, str] = {}
        hidden = None
        for el in digit_holders:  # the number itself must be visible, not just its prefix
            hidden = hidden_reason(page.chain(el), page.styles)
            if hidden:
                break
        evidence["hidden"] = hidden or "nothing hides it in the page's own HTML and CSS"
        in_footer, evidence["footer"] = page.in_footer(chain, offset)
        centred, evidence["centred"] = centred_reason(chain, page.styles)
        return MarkSeen(
            text=fm.text, number=fm.normalized, kind=fm.kind.value, province=fm.province,
            placeholder=fm.placeholder, valid=fm.valid, source=source, in_footer=in_footer,
            centred=centred, hidden=hidden is not None, link_href=None, link_kind=None,
            is_icp=fm.is_icp, reason=fm.reason, evidence=evidence)

    def _link(self, seen: MarkSeen, pieces: list[tuple[_Element, bool]], end: int) -> None:
        """The filing-system link wrapping any part of the mark, else the first one following
        it (from ``end`` in the current stream) within ``link_gap_chars`` of text with no other
        ICP mark in between."""
        page = self.page
        assert self._context is not None
        stream, links, icp_starts = self._context
        wrapping = None
        for el, _ in pieces:
            anchor = _anchor_of(page.chain(el))
            if anchor is not None:
                wrapping = anchor
                match = _filing_link(anchor.get("href"), page.base)
                if match is not None:
                    seen.link_href, _, seen.link_kind = match
                    seen.evidence["link"] = f"the mark is inside a link to {match[0]}"
                    return
        next_mark = next((s for s in icp_starts if s >= end), len(stream.text))
        for start, _anchor, href, kind in links:
            if end <= start <= next_mark:
                gap = len(_TEXT_CHAR_RE.sub("", stream.text[end:start]))
                if gap <= page.thresholds.link_gap_chars:
                    seen.link_href, seen.link_kind = href, kind
                    seen.evidence["link"] = f"a link to {href} follows {gap} characters after it"
                    return
        if wrapping is not None:
            seen.evidence["link"] = (f"inside a link to {wrapping.get('href')!r}, which is not "
                                     "the filing system")
        else:
            seen.evidence["link"] = "no link to the filing system around or just after it"

    # -- attributes: alt/title of images, title/aria-label elsewhere
    def attributes(self, root: _Element, default: str) -> None:
        """Marks in attributes of the DOM last scanned by :meth:`stream`."""
        page = self.page
        assert self._context is not None
        stream = self._context[0]
        for value in root.xpath("//@alt | //@title | //@aria-label"):
            if not _MAYBE_MARK_RE.search(value):
                continue
            el = value.getparent()
            if el.tag in _SKIP_TAGS or any(a.tag in ("head", "script") for a in page.chain(el)):
                continue
            is_image = el.tag == "img" or (el.tag == "input" and el.get("type") == "image")
            if value.attrname == "alt" and (is_image or el.tag == "area"):
                source = "image_alt"
            elif value.attrname == "title" and is_image:
                source = "image_title"
            else:
                source = "attribute"
            source = "script" if default == "script" else self._source(el, source)
            for fm in find_marks(str(value)):
                seen = self._judge(fm, el, [el], source, page.main_offset(el))
                self._link(seen, [(el, True)], stream.starts.get(el, 0))
                self.marks.append((fm, seen))

    # -- scripts: decoded, parsed as a fragment, grafted where they write
    def scripts(self) -> list[str]:
        page = self.page
        redirects: list[str] = []
        for script in page.root.iter("script"):
            raw = script.text or ""
            if not raw.strip():
                continue
            decoded = decode_script(raw)
            redirects.extend(_script_location_urls(decoded, page.base))
            if not _MAYBE_MARK_RE.search(decoded):
                continue
            target = script
            m = _WRITE_TARGET_RE.search(decoded)
            if m:
                named = page.element_by_id(m.group(1) or m.group(2))
                target = named if named is not None else script
            fragment = _parse(decoded)[0].find("body")
            if fragment is None:
                continue
            page.graft[fragment] = target
            stream = _read(fragment, "script")
            self.stream(stream, [a for a in fragment.iter("a", "area")])
            self.attributes(fragment, "script")
        for el in page.root.xpath("//body[@onload] | //frameset[@onload]"):
            redirects.extend(_script_location_urls(decode_script(el.get("onload")), page.base))
        return list(dict.fromkeys(redirects))


# --- meta refresh ------------------------------------------------------------------------------

_REFRESH_DELAY_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)")
_REFRESH_URL_RE = re.compile(r"[\s;,]*(?:url\s*=\s*)?", re.I)


def _meta_refresh(page: _Page) -> dict | None:
    """The first ``<meta http-equiv=refresh>`` outside <noscript>, as WHATWG parses it: a delay,
    then optionally ``;url=`` and a URL (quotes allowed); no URL means the page itself."""
    for meta in page.root.iter("meta"):
        if (meta.get("http-equiv") or "").strip().lower() != "refresh":
            continue
        if any(a.tag == "noscript" for a in page.chain(meta)):
            continue
        content = meta.get("content") or ""
        m = _REFRESH_DELAY_RE.match(content)
        if not m:
            continue
        rest = content[m.end():]
        rest = rest[_REFRESH_URL_RE.match(rest).end():].strip()
        if rest[:1] in ("'", '"'):
            rest = rest[1:].split(rest[0], 1)[0]
        resolved = _resolve_href(rest, page.base) if rest else None
        return {"delay": float(m.group(1)), "url": resolved[0] if resolved else page.base}
    return None


# --- what kind of page ----------------------------------------------------------------------------

_DEFAULT_SERVER_RE = re.compile(
    r"welcome to nginx|test page for the nginx|welcome to openresty|apache2 \w+ default page"
    r"|test page for the apache|http server test page|apache tomcat/\d|successfully installed tomcat"
    r"|iis windows server|internet information services|iis\d* welcome|welcome to centos"
    r"|caddy works|litespeed web server|web server's default page|default web site page"
    r"|恭喜[，,]\s*站点创建成功|没有找到站点|站点创建成功", re.I)
_IT_WORKS_RE = re.compile(r"^\s*it works!?\s*$", re.I)
_PARKED_RE = re.compile(
    r"此域名(?:正在)?出售|该域名(?:正在)?出售|域名(?:正在)?出售中?|域名转让|域名停放|domain (?:name )?is for sale"
    r"|domain may be for sale|buy this domain|this domain is parked|parked free|domain parking"
    r"|parked domain|this domain name is available", re.I)
_PARKING_HOSTS_RE = re.compile(
    r"(?:^|\.)(?:sedoparking\.com|parkingcrew\.net|bodis\.com|above\.com|dan\.com|afternic\.com"
    r"|parklogic\.com|domainmarket\.com|hugedomains\.com|undeveloped\.com)$")
# Substrings tested on the lower-cased source before any URL is parsed (a case-insensitive
# regex over 50 KB of mostly Chinese text costs milliseconds; str.__contains__ microseconds).
_PARKING_NAMES = ("sedo", "parking", "bodis", "above.com", "dan.com", "afternic", "parklogic",
                  "domainmarket", "hugedomains", "undeveloped")
_NOT_HTML_TYPES_RE = re.compile(
    r"^(?:image|audio|video|font)/|^application/(?:json|pdf|octet-stream|zip|javascript"
    r"|x-javascript|ld\+json|gzip)|^text/(?:css|javascript|csv|plain)", re.I)
_BINARY_MAGIC = ("\x89PNG", "GIF8", "%PDF", "PK\x03\x04", "\x1f\x8b", "\xff\xd8\xff", "RIFF")
_TAG_RE = re.compile(r"<\s*(?:[a-zA-Z][\w:-]*|!doctype|!--)", re.I)


def _not_html_reason(html: str, content_type: str | None) -> str | None:
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if _NOT_HTML_TYPES_RE.match(mime):
            return f"Content-Type {mime} is not HTML"
    head = html.lstrip("\ufeff \t\r\n")[:4096]
    if head.startswith(_BINARY_MAGIC):
        return "binary content (a known file signature), not HTML"
    # A stray NUL or bad byte happens on real pages; a body full of them is no page.
    if head.count("\x00") + head.count("\ufffd") > len(head) // 20:
        return "binary content, not HTML"
    if head[:1] in ("{", "[") and not _TAG_RE.match(head):
        return "looks like JSON, not HTML"
    if not _TAG_RE.search(head):
        return "no HTML markup in the first 4 KiB"
    return None


def _page_kind(page: _Page, source: str, title: str | None,
               redirects: bool) -> tuple[str, str | None]:
    """The page's kind and why; ``source`` is the page's HTML, lower-cased."""
    # Phrases in the text count only on a short page (a real site may quote them).
    short = page.text_chars < page.thresholds.parked_max_chars
    text = " ".join(page.main.text.replace(HARD, " ").split()) if short else ""
    title = title or ""
    for hay, where in ((title, "title"), (text, "text")):
        m = _DEFAULT_SERVER_RE.search(hay)
        if m:
            return "default_server", f"default server page: {m.group()!r} in the {where}"
    if _IT_WORKS_RE.match(text) or _IT_WORKS_RE.match(title):
        return "default_server", "default server page: 'It works!'"
    for hay, where in ((title, "title"), (text, "text")):
        m = _PARKED_RE.search(hay)
        if m:
            return "parked", f"parked page: {m.group()!r} in the {where}"
    # one cheap test over the page's source first: most pages name no parking service
    urls = page.root.xpath("//a/@href | //script/@src | //iframe/@src | //frame/@src") \
        if any(name in source for name in _PARKING_NAMES) else []
    for url in urls:
        resolved = _resolve_href(url, page.base)
        if resolved and _PARKING_HOSTS_RE.search(resolved[1]):
            return "parked", f"parked page: refers to the parking service {resolved[1]}"
    if page.text_chars == 0 and not redirects and not page.root.xpath(
            "//body//*[self::img or self::iframe or self::frame or self::embed or self::object "
            "or self::video or self::canvas or self::svg or self::script]"
            " | //frameset | //head/script"):
        return "empty", "no text, images, frames or scripts in the page"
    if page.text_chars == 0:
        return "site", "no text in the static HTML: content comes from scripts, frames or images"
    return "site", None


# --- the entry point ---------------------------------------------------------------------------

def extract(html: str, base_url: str, *, content_type: str | None = None,
            thresholds: StaticThresholds = DEFAULT_THRESHOLDS) -> PageExtract:
    """Everything the static pass can tell about the page ``html`` served at ``base_url``.

    ``content_type``, when given, is the response's header: a non-HTML type makes the page
    ``not_html`` whatever the body looks like.
    """
    if not html or not html.strip("\ufeff \t\r\n\x00"):
        return _no_page("empty", "empty body")
    reason = _not_html_reason(html, content_type)
    if reason is not None:
        return _no_page("not_html", reason)
    try:
        root, stopped = _parse(html)
    except (etree.ParserError, ValueError) as exc:  # markup, but not one element in it
        return _no_page("empty", f"no document could be built from it: {exc}")

    page = _Page(root, base_url, thresholds)
    title_el = root.find(".//title")
    title = " ".join(("".join(title_el.itertext()) if title_el is not None else "").split()) or None

    collector = _Collector(page)
    shown = collector.stream(page.main, list(root.iter("a", "area")))
    collector.attributes(root, "text")
    script_redirects = collector.scripts()
    refresh = _meta_refresh(page)

    marks = [seen for fm, seen in collector.marks if fm.kind is not MarkKind.PUBLIC_SECURITY]
    public_security = list(dict.fromkeys(
        fm.normalized for fm, _ in collector.marks if fm.kind is MarkKind.PUBLIC_SECURITY))

    # Contacts from the visible text with the marks blanked out (their digits are no phone).
    pieces, last = [], 0
    for fm in shown:
        s, e = fm.span
        pieces += [page.main.text[last:s], " " * (e - s)]
        last = e
    text = "".join(pieces) + page.main.text[last:]
    lowered = html.lower()
    hrefs = root.xpath("//a/@href") if "mailto:" in lowered or "tel:" in lowered else []
    contact = find_contacts(text.replace(HARD, "\n"), hrefs)

    kind, note = _page_kind(page, lowered, title, bool(refresh or script_redirects))
    notes = [note] if note else []
    if stopped is not None:
        if kind == "empty":  # what was not read may well be the page
            kind, notes = "site", []
        notes.append(stopped)
    if page._styles is not None and page._styles.partial:
        notes.append("CSS not resolved statically: " + "; ".join(page._styles.notes))
    reader_text = page.main.text.replace(HARD, "\n")
    return PageExtract(kind=kind, title=title, marks=marks, filing_links=collector.links,
                       contact=contact, meta_refresh=refresh, script_redirects=script_redirects,
                       public_security=public_security, notes=notes, complete=stopped is None,
                       text=" ".join(reader_text.split())[:thresholds.text_cap_chars],
                       lookalike_marks=find_lookalikes(reader_text))
