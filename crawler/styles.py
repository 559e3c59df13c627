"""A deliberately small static CSS cascade, and the three layout judgements built on it.

The static pass must say, before any browser runs, whether a filing mark is hidden, whether it
sits in the footer and whether it is centred (DESIGN.md §2 "Bottom centre, made measurable"; the
rendered check measures the real boxes later). That needs the styles the page itself carries:
inline ``style`` attributes and ``<style>`` blocks, parsed with cssselect and matched right to
left only against the elements a mark sits in. It is a
cascade in miniature — specificity, source order, ``!important``, inline styles, inheritance of
the few inherited properties — and it knows where it stops:

* only properties that bear on the three judgements are kept (:data:`RELEVANT`);
* selectors with pseudo-classes or pseudo-elements (``:hover``, ``::before``) are skipped —
  statically they would apply where the browser would not;
* ``@media`` blocks apply when their query is plain (``screen``, ``all``, ``min-width`` /
  ``max-width`` in px) and true at the 1,366 px desktop width the display rule is measured at;
* external stylesheets (``<link rel=stylesheet>``, ``@import``) are not fetched.

Whatever it cannot resolve sets :attr:`StyleSheet.partial`, and the judgements then answer
"unknown" (None) instead of a default that the missing CSS might contradict. Never a class
*name*: ``class="footer-center"`` says nothing about what the CSS for it does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cssselect import SelectorError, parse as parse_selector
from cssselect.parser import Attrib, Class, CombinedSelector, Element, Hash
from lxml.etree import _Element

__all__ = ["RELEVANT", "StyleSheet", "centred_reason", "footer_structure", "hidden_reason",
           "parse_declarations"]

#: the desktop width the display rule is measured at (DESIGN.md §2)
VIEWPORT_WIDTH = 1366

RELEVANT = frozenset({
    "display", "visibility", "opacity", "position", "top", "bottom", "left", "right",
    "text-align", "margin", "margin-left", "margin-right", "width", "max-width",
    "justify-content", "font-size", "font", "color", "background", "background-color",
    "text-indent",
})
_RELEVANT_RE = re.compile("|".join(sorted(RELEVANT, key=len, reverse=True)), re.I)

_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
_BRACE_RE = re.compile(r"[{}]")
_MEDIA_FEATURE_RE = re.compile(r"\(\s*(min|max)-width\s*:\s*(\d+(?:\.\d+)?)px\s*\)")
_FONT_SIZE_RE = re.compile(r"^(\d*\.?\d+)(px|pt|em|rem|%|vw|vh)?(?:/\S+)?$")
_LENGTH_RE = re.compile(r"^(-?\d*\.?\d+)(px|pt|em|rem|%|vw|vh)?$")


# --- parsing -----------------------------------------------------------------------------------

def parse_declarations(text: str) -> dict[str, tuple[str, bool]]:
    """``prop: value`` pairs of a declaration block → {prop: (value, important)}, longhands
    added for ``margin``, ``background`` and ``font`` (only what the judgements read)."""
    out: dict[str, tuple[str, bool]] = {}
    for decl in text.split(";"):
        prop, sep, value = decl.partition(":")
        if not sep:
            continue
        prop = prop.strip().lower()
        if prop not in RELEVANT:
            continue
        value = value.strip().lower()
        important = value.endswith("!important")
        if important:
            value = value[: -len("!important")].rstrip()
        out[prop] = (value, important)
        if prop == "margin":
            parts = value.split()
            if parts:
                right = parts[1] if len(parts) > 1 else parts[0]
                left = parts[3] if len(parts) > 3 else right
                out["margin-left"], out["margin-right"] = (left, important), (right, important)
        elif prop == "background":
            color = next((p for p in value.split() if _color(p) is not None), None)
            if color is not None:
                out["background-color"] = (color, important)
        elif prop == "font":
            # the size is the first length; bare numbers are weights (700), except a bare 0
            size = next((p for p in value.split() if _FONT_SIZE_RE.match(p)
                         and (not p.isdigit() or p == "0")), None)
            if size is not None:
                out["font-size"] = (size.split("/")[0], important)
    return out


@functools.lru_cache(maxsize=1024)
def _declarations(body: str) -> dict[str, tuple[str, bool]]:
    """:func:`parse_declarations`, cached: the same blocks recur across a site's pages."""
    return parse_declarations(body) if _RELEVANT_RE.search(body) else {}


def _media_applies(query: str) -> bool | None:
    """Whether an ``@media`` prelude holds at the desktop width; None when it cannot be told."""
    query = query.lower()
    for alternative in query.split(","):
        alt = alternative.strip()
        if not alt or "print" in alt or "not " in alt:
            continue
        rest = _MEDIA_FEATURE_RE.sub("", alt)
        rest = re.sub(r"\b(?:only|screen|all|and)\b", "", rest).strip()
        if rest:
            return None  # orientation, resolution, prefers-…: not judged statically
        if all((VIEWPORT_WIDTH >= float(v)) if kind == "min" else (VIEWPORT_WIDTH <= float(v))
               for kind, v in _MEDIA_FEATURE_RE.findall(alt)):
            return True
    return False


def _blocks(css: str) -> Iterator[tuple[str, str]]:
    """Top-level ``prelude { body }`` pairs of a stylesheet, with nested braces kept in body."""
    depth, start, prelude_start = 0, 0, 0
    prelude = ""
    for m in _BRACE_RE.finditer(css):
        if m.group() == "{":
            if depth == 0:
                prelude, start = css[prelude_start:m.start()], m.end()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                yield prelude, css[start:m.start()]
                prelude_start = m.end()


_RIGHTMOST_RE = re.compile(r"[^\s>+~]+$")
_ID_RE = re.compile(r"#([\w-]+)")
_CLASS_RE = re.compile(r"\.([\w-]+)")
_TAG_RE = re.compile(r"[a-zA-Z][\w-]*")


def _rule_key(selector: str) -> tuple[str, str]:
    """The index key of a selector: the id, else a class, else the tag of its rightmost part —
    the way browsers bucket rules, so an element is only ever tested against rules that could
    match it (a page with hundreds of rules costs nothing when no mark needs judging)."""
    m = _RIGHTMOST_RE.search(selector)
    compound = m.group() if m else selector
    for kind, pattern in (("id", _ID_RE), ("class", _CLASS_RE)):
        hit = pattern.search(compound)
        if hit:
            return kind, hit.group(1)
    tag = _TAG_RE.match(compound)
    return ("tag", tag.group().lower()) if tag else ("*", "")


class _Unsupported(Exception):
    """A selector feature the static matcher does not evaluate."""


def _match(tree: object, el: _Element) -> bool:
    """Does the parsed selector ``tree`` (cssselect's) match ``el``? Right to left, as browsers
    do; tag, id, class, attribute presence/equality/word, and the four combinators."""
    if isinstance(tree, Element):
        return tree.element in (None, "*") or el.tag == tree.element.lower()
    if isinstance(tree, Hash):
        return el.get("id") == tree.id and _match(tree.selector, el)
    if isinstance(tree, Class):
        return tree.class_name in (el.get("class") or "").split() and _match(tree.selector, el)
    if isinstance(tree, Attrib):
        value = el.get(tree.attrib)
        wanted = getattr(tree.value, "value", tree.value)
        if tree.operator == "exists":
            ok = value is not None
        elif tree.operator == "=":
            ok = value == wanted
        elif tree.operator == "~=":
            ok = value is not None and wanted in value.split()
        else:
            raise _Unsupported(tree.operator)
        return ok and _match(tree.selector, el)
    if isinstance(tree, CombinedSelector):
        if not _match(tree.subselector, el):
            return False
        combinator = tree.combinator
        if combinator == " ":
            parent = el.getparent()
            while parent is not None:
                if _match(tree.selector, parent):
                    return True
                parent = parent.getparent()
            return False
        if combinator == ">":
            parent = el.getparent()
            return parent is not None and _match(tree.selector, parent)
        if combinator in ("+", "~"):
            sibling = el.getprevious()
            while sibling is not None:
                if isinstance(sibling.tag, str):
                    if _match(tree.selector, sibling):
                        return True
                    if combinator == "+":
                        return False
                sibling = sibling.getprevious()
            return False
    raise _Unsupported(type(tree).__name__)


_NAME_TOKEN_RE = re.compile(r"[#.][\w-]+")


@dataclass
class _Rule:
    """One selector of a rule; its declarations are parsed when it first matches something."""

    selector: str
    order: int
    body: str
    needs: frozenset[str] = frozenset()   # the #ids and .classes the selector names
    parsed: object = None
    specificity: tuple[int, int, int] = (0, 0, 0)


class StyleSheet:
    """The page's own CSS, matched lazily (only when a mark needs its ancestors judged)."""

    def __init__(self, root: _Element) -> None:
        self.root = root
        self.rules: dict[tuple[str, str], list[_Rule]] = {}
        self.count = 0
        #: some CSS that may bear on the judgements could not be resolved statically
        self.partial = False
        self.notes: list[str] = []
        self._cache: dict[_Element, dict[str, str]] = {}
        for link in root.iter("link"):
            if "stylesheet" in (link.get("rel") or "").lower():
                self._unresolved("external stylesheet " + (link.get("href") or "?"))
        for style in root.iter("style"):
            self._add_css(style.text or "")

    def _unresolved(self, why: str) -> None:
        self.partial = True
        if len(self.notes) < 5:
            self.notes.append(why)

    def _add_css(self, css: str) -> None:
        css = _COMMENT_RE.sub("", css)
        if "@import" in css:
            self._unresolved("@import")
        for prelude, body in _blocks(css):
            prelude = prelude.rsplit(";", 1)[-1].strip()  # drop statements like @charset "…";
            if prelude.startswith("@"):
                if prelude.lower().startswith("@media"):
                    applies = _media_applies(prelude[6:])
                    if applies:
                        self._add_css(body)
                    elif applies is None and any(p in body for p in ("display", "text-align")):
                        self._unresolved(f"media query {prelude!r}")
                continue  # @font-face, @keyframes, @supports …: nothing the judgements read
            for selector in prelude.split(","):
                selector = selector.strip()
                if not selector:
                    continue
                if ":" in selector:  # :hover, :first-child, ::before … — not a static fact
                    self._unresolved(f"pseudo-class selector {selector!r}")
                    continue
                needs = frozenset(_NAME_TOKEN_RE.findall(selector)) if "[" not in selector \
                    else frozenset()
                self.rules.setdefault(_rule_key(selector), []).append(
                    _Rule(selector, self.count, body, needs))
                self.count += 1

    def _names_in_chain(self, el: _Element) -> set[str]:
        """``#id`` and ``.class`` tokens of ``el`` and its ancestors."""
        names: set[str] = set()
        node: _Element | None = el
        while node is not None:
            if node.get("id"):
                names.add("#" + node.get("id"))
            names.update("." + c for c in (node.get("class") or "").split())
            node = node.getparent()
        return names

    def _matching(self, el: _Element) -> Iterator[tuple[_Rule, dict[str, tuple[str, bool]]]]:
        keys = [("tag", el.tag), ("*", "")]
        if el.get("id"):
            keys.append(("id", el.get("id")))
        keys.extend(("class", c) for c in (el.get("class") or "").split())
        names: set[str] | None = None
        for key in keys:
            for rule in self.rules.get(key, ()):
                if rule.needs and "+" not in rule.selector and "~" not in rule.selector:
                    # Cheap rejection before parsing: every #id/.class the selector names must
                    # be on the element or an ancestor (sibling combinators aside).
                    if names is None:
                        names = self._names_in_chain(el)
                    if not rule.needs <= names:
                        continue
                if rule.parsed is None:
                    try:
                        selector = parse_selector(rule.selector)[0]
                        rule.parsed, rule.specificity = selector.parsed_tree, selector.specificity()
                    except (SelectorError, IndexError):
                        rule.parsed = False
                        self._unresolved(f"selector {rule.selector!r}")
                if rule.parsed is False:
                    continue
                try:
                    if _match(rule.parsed, el):
                        yield rule, _declarations(rule.body)
                except _Unsupported as exc:
                    rule.parsed = False
                    self._unresolved(f"selector {rule.selector!r} ({exc})")

    def declared(self, el: _Element) -> dict[str, str]:
        """The values declared *on* ``el`` after the cascade (no inheritance)."""
        hit = self._cache.get(el)
        if hit is not None:
            return hit
        ranked: list[tuple[tuple, str, str]] = []
        if isinstance(el.tag, str):
            for rule, declarations in self._matching(el):
                for prop, (value, important) in declarations.items():
                    ranked.append(((important, 0, rule.specificity, rule.order), prop, value))
            inline = el.get("style")
            if inline:
                for prop, (value, important) in parse_declarations(inline).items():
                    ranked.append(((important, 1, (0, 0, 0), 0), prop, value))
        ranked.sort(key=lambda r: r[0])
        out = {prop: value for _, prop, value in ranked}
        self._cache[el] = out
        return out


# --- values ------------------------------------------------------------------------------------

_NAMED_COLORS = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "transparent": None,
                 "gray": "#808080", "grey": "#808080", "silver": "#c0c0c0", "blue": "#0000ff",
                 "green": "#008000", "yellow": "#ffff00"}
_HEX_RE = re.compile(r"^#([0-9a-f]{3}|[0-9a-f]{6})$")
_RGB_RE = re.compile(r"^rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)$")


def _color(value: str) -> str | None:
    """A colour as ``#rrggbb``, or None (unknown, or transparent)."""
    value = value.strip().lower()
    if value in _NAMED_COLORS:
        return _NAMED_COLORS[value]
    m = _HEX_RE.match(value)
    if m:
        h = m.group(1)
        return "#" + ("".join(c * 2 for c in h) if len(h) == 3 else h)
    m = _RGB_RE.match(value)
    if m:
        if m.group(4) is not None and float(m.group(4)) == 0:
            return None
        return "#" + "".join(f"{min(255, int(x)):02x}" for x in m.group(1, 2, 3))
    return None


def _length(value: str | None) -> float | None:
    """A length in px-ish units (em/rem ×16), or None; keywords and % are not lengths here."""
    if value is None:
        return None
    m = _LENGTH_RE.match(value.strip())
    if not m or m.group(2) in ("%", "vw", "vh"):
        return None
    number = float(m.group(1))
    return number * 16 if m.group(2) in ("em", "rem") else number


def _describe(el: _Element) -> str:
    """``<div class="x" id="y">`` for the evidence."""
    attrs = "".join(f' {a}="{el.get(a)}"' for a in ("id", "class") if el.get(a))
    return f"<{el.tag}{attrs}>"


def _inherited(chain: Sequence[_Element], sheet: StyleSheet, prop: str
               ) -> tuple[str, _Element] | None:
    """The nearest declared value of an inherited property on the chain (self first)."""
    for el in chain:
        value = sheet.declared(el).get(prop)
        if value is not None and value != "inherit":
            return value, el
    return None


# --- judgements --------------------------------------------------------------------------------

def hidden_reason(chain: Sequence[_Element], sheet: StyleSheet) -> str | None:
    """Why the element at ``chain[0]`` (ancestors follow) cannot be seen, or None.

    ``aria-hidden`` is deliberately *not* a reason: it hides from screen readers, not from eyes.
    """
    for el in chain:
        tag = el.tag
        if tag == "template":
            return "inside <template>"
        if el.get("hidden") is not None:
            return f"hidden attribute on {_describe(el)}"
        if tag == "input" and (el.get("type") or "").lower() == "hidden":
            return "a hidden input"
        d = sheet.declared(el)
        if d.get("display") == "none":
            return f"display:none on {_describe(el)}"
        if d.get("opacity") in ("0", "0.0", "0%"):
            return f"opacity:0 on {_describe(el)}"
        indent = _length(d.get("text-indent"))
        if indent is not None and indent <= -999:
            return f"text-indent:{d['text-indent']} on {_describe(el)} (moved off-screen)"
        if d.get("position") in ("absolute", "fixed"):
            for side in ("left", "top"):
                offset = _length(d.get(side))
                if offset is not None and offset <= -999:
                    return f"{side}:{d[side]} on {_describe(el)} (moved off-screen)"
    visibility = _inherited(chain, sheet, "visibility")
    if visibility and visibility[0] in ("hidden", "collapse"):
        return f"visibility:{visibility[0]} on {_describe(visibility[1])}"
    size = _inherited(chain, sheet, "font-size")
    if size and _length(size[0]) == 0:
        return f"font-size:{size[0]} on {_describe(size[1])}"
    color = _inherited(chain, sheet, "color")
    background = next(((sheet.declared(el).get("background-color"), el) for el in chain
                       if _color(sheet.declared(el).get("background-color") or "") is not None),
                      None)
    if color and background and _color(color[0]) == _color(background[0] or ""):
        return (f"text colour {color[0]} on {_describe(color[1])} equals the background "
                f"{background[0]} of {_describe(background[1])}")
    return None


def centred_reason(chain: Sequence[_Element], sheet: StyleSheet) -> tuple[bool | None, str]:
    """Whether the element at ``chain[0]`` is centred, statically, and why.

    Walking up, the first decisive sign wins: ``<center>``, ``align=center``, a declared
    ``text-align`` (centre → yes, anything else → no, since it is inherited from there),
    auto left and right margins on a box with a declared width, or a flex container with
    ``justify-content:center``. Nothing decisive: no (the browser default is start-aligned),
    unless the page has CSS we could not resolve — then unknown.
    """
    for el in chain:
        if el.tag == "center":
            return True, "inside <center>"
        align = (el.get("align") or "").lower()
        if align in ("center", "middle"):
            return True, f"align={align} on {_describe(el)}"
        d = sheet.declared(el)
        text_align = d.get("text-align")
        if text_align and text_align != "inherit":
            centred = text_align in ("center", "-webkit-center", "-moz-center")
            return centred, f"text-align:{text_align} on {_describe(el)}"
        if d.get("margin-left") == "auto" and d.get("margin-right") == "auto" and (
                _length(d.get("width")) or _length(d.get("max-width"))):
            return True, f"auto margins on {_describe(el)} with a fixed width"
        if d.get("justify-content") == "center" and "flex" in (d.get("display") or ""):
            return True, f"flex justify-content:center on {_describe(el)}"
        if align in ("left", "right"):
            return False, f"align={align} on {_describe(el)}"
    if sheet.partial:
        return None, "no alignment in the page's own CSS; unresolved CSS: " + "; ".join(sheet.notes)
    return False, "no centring declared on it or any ancestor (start-aligned by default)"


_STRUCTURE_STOP = ("article", "aside")


def footer_structure(chain: Sequence[_Element], sheet: StyleSheet) -> tuple[bool | None, str] | None:
    """A structural answer to "is it in the footer?", or None when structure does not say.

    Yes: inside a page ``<footer>`` (not an article's), ``role=contentinfo``, or a box fixed to
    the bottom of the viewport. No: inside a ``<header>``/``role=banner`` or a box fixed to the
    top. Unknown: absolutely positioned (only a browser knows where it lands).
    """
    for i, el in enumerate(chain):
        tag = el.tag
        role = (el.get("role") or "").lower()
        if tag == "footer" and not any(a.tag in _STRUCTURE_STOP for a in chain[i + 1:]):
            return True, f"inside {_describe(el)}"
        if role == "contentinfo":
            return True, f"inside {_describe(el)} role=contentinfo"
        d = sheet.declared(el)
        position = d.get("position")
        if position in ("fixed", "sticky"):
            if d.get("bottom") is not None and _length(d.get("bottom")) is not None:
                return True, f"position:{position};bottom:{d['bottom']} on {_describe(el)}"
            if d.get("top") is not None:
                return False, f"position:{position};top:{d['top']} on {_describe(el)}"
        if position == "absolute":
            return None, f"position:absolute on {_describe(el)}: only a browser can place it"
        if (tag == "header" and not any(a.tag in _STRUCTURE_STOP for a in chain[i + 1:])) \
                or role == "banner":
            return False, f"inside {_describe(el)}"
    return None
