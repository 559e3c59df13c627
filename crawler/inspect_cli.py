"""``icpwatch inspect TARGET``: one page checked for its filing marks and their display.

Rendered in Debian's Chromium (through the crawler's resolver and address guard) unless
``--no-render`` is given or no browser is installed — then the static estimate from the page
source, marked ``"rendered": false`` and saying why.
"""

from __future__ import annotations

from pathlib import Path

import click

from icpwatch.clikit import emit_json, fail, json_option, resolver_option

DEFAULT_EVIDENCE_DIR = "icpwatch-evidence"


def _target(text: str) -> str | Path:
    """A local .html file as a Path, else the URL to fetch (``example.cn`` → ``http://example.cn/``)."""
    from .targets import TargetError, homepage_urls, parse_targets

    path = Path(text)
    if path.suffix.lower() in (".html", ".htm") and "://" not in text:
        if not path.is_file():
            fail(f"{text}: no such file")
        return path
    try:
        parsed = next(parse_targets([text]), None)
    except TargetError as exc:
        fail(f"TARGET {text!r}: {exc.reason}")
        raise AssertionError from None  # fail() raised
    if parsed is None or parsed.kind == "cidr_member":
        fail(f"TARGET {text!r}: expected a URL, a host name or a local .html file")
        raise AssertionError
    return parsed.url or homepage_urls(parsed)[0]


@click.command("inspect")
@click.argument("target")
@click.option("--no-render", is_flag=True, help="Do not start a browser: the static estimate from the page source.")
@resolver_option()
@click.option("--allow-private", is_flag=True, help="Permit loopback and private addresses (refused by default).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM file of the CAs to trust (default: the system's trust store).")
@click.option("--evidence-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_EVIDENCE_DIR,
              show_default=True, help="Where the screenshot, served HTML and measurements are written.")
@click.option("--chromium", default=None, metavar="PATH", help="Chromium executable (default: chromium on PATH).")
@click.option("--deadline", type=click.FloatRange(1, 300), default=20.0, show_default=True,
              help="Seconds the whole render may take; a page that hangs is reported unknown.")
@json_option
def inspect(target: str, no_render: bool, resolver: str | None, allow_private: bool, ca_file: str | None,
            evidence_dir: Path, chromium: str | None, deadline: float, as_json: bool) -> None:
    """Check one page (a URL, a host name or a local .html file) for its filing marks and whether
    the filing number is shown at the bottom centre with a link to the filing system below it
    (art. 14(3); DESIGN.md §2 "Bottom centre, made measurable").

    The verdict is compliant, misplaced, link_missing, not_displayed or no_mark; a page that could
    not be observed has status other than ok and no verdict (unknown, never non-compliant).
    """
    from crawler import settings as defaults

    from .guard import AddressGuard
    from .render import BrowserUnavailable, RenderOptions, render_one
    from .render.network import GuardedFetcher
    from .render.static import static_inspect
    from .resolve import Resolver

    where = _target(target)
    try:
        dns = Resolver(resolver)
    except ValueError as exc:
        fail(f"--resolver: {exc}")
        return
    guard = AddressGuard(allow_private=allow_private)
    reason = "--no-render" if no_render else None
    doc = None
    if not no_render:
        settings = {name: getattr(defaults, name) for name in dir(defaults) if name.isupper()}
        options = RenderOptions.from_settings(settings, executable_path=chromium or defaults.ICPWATCH_CHROMIUM,
                                              deadline=deadline)
        try:
            doc = render_one(where, resolver=resolver, allow_private=allow_private, ca_file=ca_file,
                             evidence_dir=evidence_dir, options=options)
        except BrowserUnavailable as exc:
            reason = f"no browser: {exc}"
            click.echo(f"warning: {reason}; falling back to the static estimate", err=True)
    if doc is None:
        fetcher = None if isinstance(where, Path) else GuardedFetcher(
            dns, guard, ca_file=ca_file, user_agent=defaults.USER_AGENT)
        doc = static_inspect(where, fetcher, reason or "not rendered")
    if as_json:
        emit_json(doc)
        return
    _print(doc)


def _print(doc: dict) -> None:
    echo = click.echo
    echo(f"target     {doc['target']}")
    echo(f"final URL  {doc.get('final_url')}")
    for hop in doc.get("redirect_chain") or []:
        echo(f"  redirect {hop.get('kind')} {hop.get('status') or ''} {hop.get('url')} -> {hop.get('location')}")
    echo(f"rendered   {'yes (Chromium, 1366x768 judged, 375x667 reported)' if doc['rendered'] else 'no (static estimate)'}")
    if doc["status"] != "ok":
        echo(f"status     {doc['status']}: {doc.get('error')} — unknown, no verdict")
    display = doc.get("display")
    if display:
        echo(f"verdict    {display['verdict']}  (number {display.get('number')}, visible {display.get('visible')}, "
             f"bottom {display.get('bottom')}, centred {display.get('centred')}, link {display.get('link')})")
        echo(f"why        {display.get('why')}")
        for warning in display.get("warnings") or []:
            echo(f"warning    {warning}")
    for m in doc.get("marks") or []:
        extra = f", confidence {m['confidence']}" if m.get("confidence") is not None else ""
        hidden = f", hidden: {m['hidden_reason']}" if m.get("hidden_reason") else ""
        echo(f"mark       {m['number']} [{m['kind']}] from {m['source']}, visible {m['visible']}{hidden}{extra}")
    evidence = doc.get("evidence") or {}
    if evidence.get("screenshot"):
        echo(f"evidence   {evidence['screenshot']} (sha256 {evidence.get('screenshot_sha256', '')[:16]}…)")
    for note in doc.get("notes") or []:
        echo(f"note       {note}")
