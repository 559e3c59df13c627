"""Every document in every format from a real sandbox sweep, and what each must (and must not) hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from tests.reports.conftest import ROOT, Swept

pytestmark = pytest.mark.slow

FORMATS = ("html", "pdf", "xlsx", "csv", "md")
UNFILED = {"UNFILED_SITE", "CANCELLED_STILL_SERVED", "BLACKLISTED_SERVED", "UNFILED_REDIRECT", "UNFILED_RESOLVED"}


def report(swept: Swept, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "icpwatch", "report", *args, "--db", swept.db], capture_output=True,
                          text=True, cwd=ROOT, env=swept.env, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def text_of(path: Path) -> str:
    """Everything a reader of the file sees, as text."""
    if path.suffix == ".pdf":
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path, read_only=True)
        return "\n".join("\t".join("" if c is None else str(c) for c in row)
                         for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))
    return path.read_text(encoding="utf-8-sig")


@pytest.fixture(scope="module")
def verified(swept: Swept) -> list[dict[str, Any]]:
    """The verified findings of the first sweep, as the monitor lists them."""
    proc = subprocess.run([sys.executable, "-m", "icpwatch", "findings", "list", "--sweep", str(swept.first["sweep_id"]),
                           "--status", "verified", "--db", swept.db, "--json"], capture_output=True, text=True,
                          cwd=ROOT, env=swept.env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return doc["findings"] if isinstance(doc, dict) else doc


@pytest.fixture(scope="module")
def outputs(swept: Swept, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[Path]]:
    """notice / stats / scorecard / rectification in every format (rectification for a party past 40),
    built in this process (the CLI's own tests below run it as a command)."""
    from icpwatch.dbkit import create_engine_for
    from reports.gather import Scope
    from reports.notice import build_notice
    from reports.rectification import build_rectification
    from reports.render import write
    from reports.scorecard import build_scorecard
    from reports.stats import build_stats

    out = tmp_path_factory.mktemp("documents")
    produced: dict[tuple[str, str], list[Path]] = {}
    first, second = swept.first["sweep_id"], swept.second["sweep_id"]
    engine = create_engine_for(swept.db)
    try:
        for kind, document in (("notice", build_notice(engine, Scope(first))),
                               ("stats", build_stats(engine, Scope(second))),
                               ("scorecard", build_scorecard(engine, Scope(first))),
                               ("rectification", build_rectification(engine, Scope(first, provider=top_party(swept))))):
            for fmt in FORMATS:
                produced[(kind, fmt)] = write(document, fmt, out / f"{kind}.{fmt}")
    finally:
        engine.dispose()
    return produced


def top_party(swept: Swept) -> str:
    points = Counter()
    for f in swept.first["findings"]:
        if f["provider"]:
            points[f["provider"]] += f["points"]
    party, total = points.most_common(1)[0]
    assert total >= 40, "the default world must take some party past 40 points"
    return party


def test_every_document_is_written_in_every_format(outputs: dict[tuple[str, str], list[Path]]) -> None:
    for (kind, fmt), paths in outputs.items():
        assert paths and paths[0].stat().st_size > 100 and all(p.stat().st_size for p in paths), (kind, fmt)
        if fmt == "pdf":
            assert paths[0].read_bytes().startswith(b"%PDF")
        if fmt == "html":
            html = paths[0].read_text(encoding="utf-8")
            assert "src=\"http" not in html and "src=\"/" not in html and "<link" not in html  # self-contained
            if kind != "rectification":  # a letter; the others carry charts
                assert "<img" in html and "data:image/png;base64," in html


def test_notice_lists_each_verified_unfiled_finding_with_its_facts(swept: Swept, verified: list[dict[str, Any]],
                                                                   outputs: dict[tuple[str, str], list[Path]]) -> None:
    unfiled = [f for f in verified if f["code"] in UNFILED]
    assert len(unfiled) > 20
    html = text_of(outputs[("notice", "html")][0])
    sites = pd.read_csv(outputs[("notice", "csv")][0], encoding="utf-8-sig")
    assert sorted(sites["发现编号"]) == sorted(f["id"] for f in unfiled)
    assert sites["记分"].sum() == sum(f["points"] for f in unfiled)
    for f in unfiled:
        row = sites[sites["发现编号"] == f["id"]].iloc[0]
        assert row["网站域名/地址"] == (f["domain"] or f["ip"])
        assert row["责任单位代码"] == f["provider"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d(（估算）)?", row["完成期限"])
        assert row["依据条款"].startswith("第")
        assert (f["domain"] or f["ip"]) in html
    # every unfiled site served a page the browser rendered: each row shows its screenshot
    served = [f for f in unfiled if f["code"] in ("UNFILED_SITE", "CANCELLED_STILL_SERVED", "BLACKLISTED_SERVED")]
    assert served and html.count('<img class="shot"') == len(served)
    summary = pd.read_csv(outputs[("notice", "csv")][1], encoding="utf-8-sig")
    assert summary["发现数"].sum() == len(unfiled) and summary["记分"].sum() == sum(f["points"] for f in unfiled)
    per_party = Counter(f["provider"] or "未能确定" for f in unfiled)
    assert dict(zip(summary["责任单位代码"], summary["发现数"])) == dict(per_party)
    md = text_of(outputs[("notice", "md")][0])
    assert f"| **合计** | | | **{sites['网站域名/地址'].nunique()}** | **{len(unfiled)}** |" in md
    xlsx = openpyxl.load_workbook(outputs[("notice", "xlsx")][0], read_only=True)
    assert xlsx.sheetnames == ["说明", "未备案网站清单", "汇总"]
    assert xlsx["未备案网站清单"].max_row == len(unfiled) + 1
    assert "未备案网站通报" in text_of(outputs[("notice", "pdf")][0])


def test_a_providers_notice_and_scorecard_hold_only_its_own(swept: Swept, verified: list[dict[str, Any]],
                                                            tmp_path: Path) -> None:
    unfiled = [f for f in verified if f["code"] in UNFILED and f["party_kind"] == "provider"]
    provider = Counter(f["provider"] for f in unfiled).most_common(1)[0][0]
    own = {f["domain"] or f["ip"] for f in verified if f["provider"] == provider}
    others = {f["domain"] or f["ip"] for f in verified if f["provider"] != provider} - own
    other_parties = {f["provider"] for f in verified if f["provider"] and f["provider"] != provider}
    for kind in ("notice", "scorecard"):
        for fmt in FORMATS:
            path = tmp_path / f"{kind}-{provider}.{fmt}"
            report(swept, kind, "--sweep", str(swept.first["sweep_id"]), "--provider", provider, "--format", fmt,
                   "--out", str(path))
            text = text_of(path)
            leaked = [s for s in others if re.search(rf"(?<![\w.-]){re.escape(s)}(?![\w-])", text)]
            assert not leaked, (kind, fmt, leaked[:5])
            assert not [p for p in other_parties if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text)], (kind, fmt)
            if kind == "notice" and fmt != "pdf":  # a PDF's narrow cells break long names across lines
                assert all(s in text for s in {f["domain"] or f["ip"] for f in unfiled if f["provider"] == provider})


def test_nothing_unmasked_in_any_document(swept: Swept, outputs: dict[tuple[str, str], list[Path]]) -> None:
    from registry.protection import mask_text

    assert swept.secrets
    for (kind, fmt), paths in outputs.items():
        for path in paths:
            if path.suffix == ".png":
                continue
            text = text_of(path)
            assert not [s for s in swept.secrets if s in text], (kind, fmt, path.name)
            assert mask_text(text) == text, (kind, fmt, path.name)  # no phone or ID number left whole


def test_stats_figures_add_up_and_see_the_resolved_site(swept: Swept, outputs: dict[tuple[str, str], list[Path]]) -> None:
    xlsx = outputs[("stats", "xlsx")][0]
    by_province = pd.read_excel(xlsx, sheet_name="按省份")
    by_party = pd.read_excel(xlsx, sheet_name="按责任单位")
    rates = pd.read_excel(xlsx, sheet_name="合规率与准确率")
    changes = pd.read_excel(xlsx, sheet_name="新增与已整改")
    second = [f for f in swept.second["findings"] if f["code"] in UNFILED]
    assert by_province["发现数"].sum() == len(second) == by_party["发现数"].sum()
    sites_of: dict[str, set[str]] = {}
    for f in second:
        sites_of.setdefault(f["provider"] or "未能确定", set()).add(f["domain"] or f["ip"])
    assert by_party.groupby("代码")["未备案网站数"].sum().to_dict() == {k: len(v) for k, v in sites_of.items()}
    # a site two parties answer for (its provider and its registrar) counts under each one's province
    assert by_province["未备案网站数"].sum() >= len({f["domain"] or f["ip"] for f in second})
    display = rates[rates["指标"] == "备案号展示合规率"].iloc[0]
    accuracy = rates[rates["指标"] == "备案信息准确率"].iloc[0]
    for row in (display, accuracy):
        assert 0 < row["达标网站数"] < row["在用已备案网站数"]
        assert row["比率（%）"] == pytest.approx(100 * row["达标网站数"] / row["在用已备案网站数"], abs=0.05)
    resolved = dict(zip(changes["代码"], changes["已消除"]))
    assert resolved.get("UNFILED_SITE", 0) >= 1  # the site filed between the two sweeps
    html = text_of(outputs[("stats", "html")][0])
    assert html.count("data:image/png;base64,") >= 3 and "备案信息准确率" in html


def test_scorecard_matches_the_ledger(swept: Swept, outputs: dict[tuple[str, str], list[Path]]) -> None:
    from icpwatch.dbkit import create_engine_for
    from registry.ledger import Ledger
    from registry.store import Store

    engine = create_engine_for(swept.db)
    year = datetime.now(timezone(timedelta(hours=8))).year
    standings = {s.code: s for s in Ledger(Store(engine)).standings(year)}
    engine.dispose()
    xlsx = outputs[("scorecard", "xlsx")][0]
    summary = pd.read_excel(xlsx, sheet_name="记分汇总")
    entries = pd.read_excel(xlsx, sheet_name="记分明细")
    assert dict(zip(summary["代码"], summary["记分"])) == {c: s.points for c, s in standings.items()}
    assert len(entries) == sum(len(s.entries) for s in standings.values())
    crossed = {c for c, s in standings.items() if any(t.threshold == 40 for t in s.thresholds)}
    assert crossed and all("40分" in summary.set_index("代码").loc[c, "已达阈值"] for c in crossed)


def test_rectification_notice_is_addressed_dated_and_shows_what_brought_it(
        swept: Swept, outputs: dict[tuple[str, str], list[Path]]) -> None:
    party = top_party(swept)
    text = text_of(outputs[("rectification", "html")][0])
    assert "整改通知书" in text and "第四十三条第（一）项" in text and "约谈" in text
    assert re.search(r"〔\d{4}〕\d+号", text) and re.search(r"\d{4}年\d{1,2}月\d{1,2}日", text)
    entries = pd.read_csv(outputs[("rectification", "csv")][0], encoding="utf-8-sig")
    assert set(entries["代码"]) == {party}
    assert entries["记分"].sum() >= 40 and entries["记分"].sum() - entries["记分"].iloc[-1] < 40  # up to the crossing
    below = report(swept, "rectification", "--sweep", str(swept.first["sweep_id"]), "--provider", "CTG",
                   "--out", str(outputs[("rectification", "html")][0].with_name("none.html")), ok=False)
    assert below.returncode == 2 and "has not reached 40" in below.stderr


def test_pdf_renders_chinese_as_glyphs(swept: Swept, tmp_path: Path) -> None:
    """Two notices that differ only in the issuer's first characters: with real glyphs their
    letterheads differ as images; tofu boxes would make them identical. And the font is embedded."""
    from PIL import Image, ImageChops

    images = []
    for issuer in ("北京市通信管理局", "上海市通信管理局"):
        pdf = tmp_path / f"{issuer}.pdf"
        report(swept, "notice", "--sweep", str(swept.first["sweep_id"]), "--format", "pdf", "--out", str(pdf),
               "--issuer", issuer)
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"Noto-S(ans|erif)-CJK-SC.*\byes\b", fonts), fonts
        subprocess.run(["pdftoppm", "-r", "72", "-f", "1", "-l", "1", "-gray", "-png", str(pdf), str(tmp_path / issuer)],
                       check=True)
        page = Image.open(next(tmp_path.glob(f"{issuer}*.png"))).convert("L")
        width = page.width
        images.append(page.crop((0, 0, width, 70)))  # the letterhead
    ink = sum(1 for v in images[0].get_flattened_data() if v < 128)
    assert ink > 300, "no ink where the letterhead is"
    diff = ImageChops.difference(images[0], images[1])
    assert sum(1 for v in diff.get_flattened_data() if v > 64) > 100, "different characters rendered the same: tofu"


def test_evidence_bundle_checks_and_detects_tampering(swept: Swept, verified: list[dict[str, Any]], tmp_path: Path) -> None:
    finding = next(f for f in verified if f["code"] == "UNFILED_SITE" and f["domain"])
    bundle = tmp_path / "b.zip"
    manifest = json.loads(report(swept, "bundle", str(finding["id"]), "--out", str(bundle), "--json").stdout)
    assert {"finding.json", "evidence.json", "observation.json", "redirect_chain.json", "dns.json",
            "measurements.json"} <= set(manifest["files"])
    assert "screenshot.png" in manifest["files"]  # the homepage as Chromium showed it, in the archive
    ok = subprocess.run([sys.executable, "-m", "icpwatch", "report", "verify", str(bundle), "--json"],
                        capture_output=True, text=True, cwd=ROOT, env=swept.env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    with zipfile.ZipFile(bundle) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
        dns = json.loads(contents["dns.json"])
        assert dns and finding["domain"] in json.dumps(dns)
        assert contents["screenshot.png"].startswith(b"\x89PNG\r\n\x1a\n")
    contents["dns.json"] = contents["dns.json"].replace(b"127.", b"128.")
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    bad = subprocess.run([sys.executable, "-m", "icpwatch", "report", "verify", str(tampered), "--json"],
                         capture_output=True, text=True, cwd=ROOT, env=swept.env)
    assert bad.returncode == 1 and any("dns.json" in p for p in json.loads(bad.stdout)["problems"])


def test_period_scope_province_filter_and_bad_input(swept: Swept, tmp_path: Path) -> None:
    year = datetime.now(timezone(timedelta(hours=8))).year
    out = tmp_path / "p.csv"
    report(swept, "notice", "--period", str(year), "--format", "csv", "--out", str(out))
    by_period = pd.read_csv(out, encoding="utf-8-sig")
    ids = {f["id"] for f in swept.first["findings"] + swept.second["findings"] if f["code"] in UNFILED}
    assert set(by_period["发现编号"]) == ids
    province = by_period["省份"].dropna().iloc[0]
    report(swept, "notice", "--period", f"{year}-01-01..{year}-12-31", "--province", province, "--format", "csv",
           "--out", str(out))
    assert set(pd.read_csv(out, encoding="utf-8-sig")["省份"]) == {province}
    bad = report(swept, "notice", "--period", "last year", "--out", str(out), ok=False)
    assert bad.returncode == 2 and "--period 'last year'" in bad.stderr and "Traceback" not in bad.stderr
    missing = report(swept, "notice", "--sweep", "999", "--out", str(out), ok=False)
    assert missing.returncode == 2 and "no such sweep" in missing.stderr


def test_a_province_adapts_the_wording_with_its_own_template(swept: Swept, tmp_path: Path) -> None:
    from importlib.resources import files

    own = tmp_path / "templates"
    own.mkdir()
    packaged = (files("reports") / "templates" / "notice.html.j2").read_text(encoding="utf-8")
    (own / "notice.html.j2").write_text(packaged.replace("现予通报", "特此通报，请认真整改"), encoding="utf-8")
    out = tmp_path / "n.html"
    report(swept, "notice", "--sweep", str(swept.first["sweep_id"]), "--templates", str(own), "--out", str(out))
    assert "特此通报，请认真整改" in out.read_text(encoding="utf-8")
    pdf = tmp_path / "n.pdf"  # the PDF's own template extends the province's wording
    report(swept, "notice", "--sweep", str(swept.first["sweep_id"]), "--templates", str(own), "--format", "pdf",
           "--out", str(pdf))
    assert "特此通报，请认真整改" in re.sub(r"\s", "", text_of(pdf))
