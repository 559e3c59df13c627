"""``icpwatch report``: notices, scorecards, rectification notices, statistics and evidence bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from icpwatch.clikit import db_option, emit_json, fail, json_option

from .render import FORMATS, RenderError, write

PERIOD_HELP = "A period instead of a sweep: START..END (2026-01-01..2026-03-31), 2026-Q1, 2026-03 or 2026."


def _engine(db_url: str) -> Any:
    from icpwatch.dbkit import DatabaseURLError, create_engine_for
    from monitor.store import MonitorStore
    from registry.store import Store

    try:
        engine = create_engine_for(db_url)
        Store(engine).upgrade()
        MonitorStore(engine)
    except DatabaseURLError as exc:
        fail(str(exc))
    return engine


def _document_command(name: str, build: Callable[..., Any], summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.option("--sweep", "sweep_id", type=int, default=None, help="The sweep the document is about.")
    @click.option("--period", default=None, metavar="PERIOD", help=PERIOD_HELP)
    @click.option("--provider", default=None, metavar="CODE", help="Only this provider (or registrar): its document holds nothing of another.")
    @click.option("--province", default=None, metavar="P", help="Only parties of this province (京, 北京 or 北京市).")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The file to write.")
    @click.option("--issuer", default=None, help="Who issues it (default: the province's 通信管理局).")
    @click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
                  help="A folder of templates used in place of the packaged ones (same file names).")
    @db_option
    @json_option
    def command(sweep_id: int | None, period: str | None, provider: str | None, province: str | None, fmt: str,
                out: Path, issuer: str | None, templates: Path | None, db_url: str, as_json: bool) -> None:
        from .gather import ReportError, Scope

        engine = _engine(db_url)
        try:
            scope = Scope.make(sweep_id, period, provider, province)
            document = build(engine, scope, issuer=issuer)
            written = write(document, fmt, out, templates=templates)
        except (ReportError, RenderError) as exc:
            fail(str(exc))
        finally:
            engine.dispose()
        result = {"document": name, "format": fmt, "scope": scope.to_dict(), "files": [str(p) for p in written]}
        if as_json:
            emit_json(result)
        else:
            click.echo("\n".join(result["files"]), err=True)

    return command


def _builders() -> dict[str, tuple[Callable[..., Any], str]]:
    from .notice import build_notice
    from .rectification import build_rectification
    from .scorecard import build_scorecard
    from .stats import build_stats

    return {
        "notice": (build_notice, "未备案网站通报: the verified unfiled sites of a sweep or period, with a summary by "
                                 "province and responsible party, each site's evidence, article, points and deadline."),
        "scorecard": (build_scorecard, "Provider scorecard: the cycle's points, entries, thresholds crossed and "
                                       "their sanctions, points by month, open stop-access orders."),
        "rectification": (build_rectification, "整改通知书 (art. 43(1)) for each provider whose points first "
                                               "reached 40 in the cycle, with the entries behind it."),
        "stats": (build_stats, "Sweep statistics: unfiled sites by province and provider, display compliance and "
                               "filing-accuracy rates, new and resolved since the last sweep, with charts."),
    }


@click.group("report")
def report() -> None:
    """Documents from verified findings and the ledger: notices, scorecards, rectification notices,
    statistics (HTML, PDF, XLSX, CSV, Markdown), and evidence bundles.

    Only verified findings count. Personal data is masked in every document.
    """


for _name, (_build, _help) in _builders().items():
    report.add_command(_document_command(_name, _build, _help))


@report.command("bundle")
@click.argument("finding_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .zip to write.")
@db_option
@json_option
def bundle(finding_id: int, out: Path, db_url: str, as_json: bool) -> None:
    """The evidence bundle of one finding: a ZIP with its evidence files and a SHA-256 manifest."""
    from .bundle import BundleError, write_bundle

    engine = _engine(db_url)
    try:
        manifest = write_bundle(engine, finding_id, out)
    except BundleError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        emit_json({"path": str(out), **manifest})
    else:
        click.echo(f"{out}: {len(manifest['files'])} files, {len(manifest['absent'])} absent", err=True)


@report.command("verify")
@click.argument("bundle_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def verify(bundle_path: Path, as_json: bool) -> None:
    """Check an evidence bundle against its manifest (exit 1 when anything differs)."""
    from .bundle import verify_bundle

    result = verify_bundle(bundle_path)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(f"{bundle_path}: {'ok' if result.ok else 'FAILED'}, {result.checked} files checked", err=True)
        for problem in result.problems:
            click.echo(f"  {problem}", err=True)
    if not result.ok:
        raise SystemExit(1)
