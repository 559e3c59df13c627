"""Sweeps with the rendered display check (``icpwatch sweep --render POLICY``), in real Chromium.

* ``--render all`` over the served default sandbox world raises exactly the ground truth's
  findings (recall and precision 100 %), the display findings of rendered sites carry the
  rendered measurements and the screenshot (path and SHA-256 of the file written), and every
  rendered site is stored;
* the policies pick the right sites (from the same stored crawl: none ⊂ sample ⊂ uncertain/filed ⊂ all);
* with no Chromium (``ICPWATCH_CHROMIUM`` pointing nowhere) the sweep says so in a note and the
  findings are the static ones — still the ground truth's;
* a page that hangs in the browser is cut at the deadline, counted and listed as failed, and
  raises nothing.

All traffic stays on 127.0.0.0/8. Sweeps run ``icpwatch sweep`` in a subprocess (the Twisted
reactor runs once per process).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.served import icpwatch, served_world

from .test_sweep import World, _key

# rendering all 261 homepages of the default world takes minutes on two shared cores
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

# another 127.x.y.0/24 than test_sweep's (127.150-199) and the render tests' (127.110-209)
NET = f"127.{210 + os.getpid() % 40}.{os.getpid() // 40 % 250}.0/24"
DISPLAY = ("NUMBER_NOT_DISPLAYED", "NUMBER_MISPLACED", "LINK_MISSING")


def require_chromium() -> None:
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        pytest.fail("Debian's chromium is required (scripts/install.sh installs it)")


def _truth_matches(truth: dict[str, Any], doc: dict[str, Any]) -> None:
    expected = {_key(f["code"], f["domain"], f["ip"], f["party"], f["party_kind"]) for f in truth["findings"]}
    got = {_key(f["code"], f["domain"], f["ip"], f["provider"], f["party_kind"]) for f in doc["findings"]}
    missing, extra = sorted(expected - got), sorted(got - expected)
    assert not missing and not extra, (f"recall {1 - len(missing) / len(expected):.3f} "
                                       f"precision {1 - len(extra) / max(len(got), 1):.3f}\nmissing {missing}\nextra {extra}")
    assert len(doc["findings"]) == len(expected)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    from sandbox.generate import ground_truth

    require_chromium()
    with served_world(tmp_path_factory.mktemp("render-sweep"), NET) as w:
        env, tmp, db, args = w.env, w.tmp, w.db, w.args
        env.pop("ICPWATCH_CHROMIUM", None)
        doc = icpwatch(env, "sweep", *args, "--render", "all", "--evidence-dir", str(tmp / "evidence"), timeout=1200)
        # the evidence as this sweep left it (a later sweep of the same violation replaces it)
        shown = _evidence(db, [f["id"] for f in doc["findings"] if f["code"] in DISPLAY])
        # the same crawl judged again with no browser: the static estimate, and a note saying why
        missing = {**env, "ICPWATCH_CHROMIUM": str(tmp / "no-such-chromium")}
        no_browser = icpwatch(missing, "sweep", *args, "--render", "all", "--run", doc["crawl_run_id"])
        yield World(world=w.world, truth=ground_truth(w.world), db=db, env=env, tmp=tmp, doc=doc, shown=shown,
                    no_browser=no_browser, args=args, info=w.info)


def _evidence(db: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    from icpwatch.dbkit import create_engine_for
    from monitor.models import Finding
    from monitor.store import MonitorStore

    engine = create_engine_for(db)
    try:
        with MonitorStore(engine).session() as s:
            return {i: {"evidence": s.get(Finding, i).evidence} for i in ids}
    finally:
        engine.dispose()


def test_render_all_raises_exactly_the_ground_truth(rendered: World) -> None:
    _truth_matches(rendered.truth, rendered.doc)


def test_render_block_counts_and_lists(rendered: World) -> None:
    r = rendered.doc["render"]
    assert r["policy"] == "all" and r["available"] is True
    assert 0 < r["selected"] <= rendered.doc["summary"]["sites_judged"]
    assert r["rendered"] + r["failed"] == r["selected"] and r["seconds"] > 0
    assert len(r["failures"]) == r["failed"]
    # every site of the default world answers a browser: a failure here is a renderer defect
    assert r["failed"] == 0, r["failures"][:5]
    assert not any("no browser" in n for n in rendered.doc["notes"])
    assert Path(r["evidence_dir"]).is_dir() and r["evidence_dir"].startswith(str(rendered.tmp / "evidence"))


def test_rendered_display_findings_carry_measurements_and_screenshot(rendered: World) -> None:
    display = [f for f in rendered.doc["findings"] if f["code"] in DISPLAY]
    assert display
    sources = set()
    for f in display:
        ev = rendered.shown[f["id"]]["evidence"]
        sources.add(ev["display_source"])
        if ev["display_source"] != "rendered":
            continue
        assert ev["rendered"]["measurements"]["desktop"]["page"]["width"] == 1366
        assert ev["rendered"]["display"]["verdict"] in ("misplaced", "link_missing", "not_displayed", "no_mark")
        shot = Path(ev["rendered"]["evidence"]["screenshot"])
        assert shot.is_file()
        assert hashlib.sha256(shot.read_bytes()).hexdigest() == ev["rendered"]["evidence"]["screenshot_sha256"]
        if f["code"] == "NUMBER_MISPLACED":
            assert ev["placement"]["bottom"] is False or ev["placement"]["centred"] is False
    assert "rendered" in sources


def test_every_rendered_site_is_stored(rendered: World) -> None:
    from icpwatch.dbkit import create_engine_for
    from monitor.render import stored_renders

    engine = create_engine_for(rendered.db)
    try:
        docs = stored_renders(engine, rendered.doc["sweep_id"])
    finally:
        engine.dispose()
    assert len(docs) == rendered.doc["render"]["selected"]
    ok = [d for d in docs.values() if d["status"] == "ok"]
    assert len(ok) == rendered.doc["render"]["rendered"]
    assert all(d["display"]["verdict"] in ("compliant", "misplaced", "link_missing", "not_displayed", "no_mark")
               for d in ok)


def test_no_chromium_gives_the_note_and_the_static_findings(rendered: World) -> None:
    doc = rendered.no_browser
    assert doc["render"]["available"] is False and doc["render"]["rendered"] == 0
    assert any("no browser is available" in n and "static estimates" in n for n in doc["notes"])
    assert doc["crawl_run_id"] == rendered.doc["crawl_run_id"]
    _truth_matches(rendered.truth, doc)


def test_policies_pick_the_right_sites(rendered: World) -> None:
    from icpwatch.dbkit import create_engine_for
    from monitor.registryview import RegistryView
    from monitor.render import RenderPolicyError, parse_policy, select_sites, site_key
    from monitor.sweep import judge_run

    engine = create_engine_for(rendered.db)
    try:
        registry = RegistryView.load(engine)
        folded, _, drafts = judge_run(engine, rendered.doc["crawl_run_id"], resolver=rendered.info["dns"],
                                      registry=registry)
    finally:
        engine.dispose()

    def keys(policy: str) -> set[str]:
        return {site_key(s) for s in select_sites(folded, registry, drafts, parse_policy(policy))}

    everything, filed, uncertain = keys("all"), keys("filed"), keys("uncertain")
    assert keys("none") == set()
    assert uncertain < filed < everything
    assert filed == {site_key(s) for s in folded.sites if s.category == "site" and registry.valid(s.host)}
    # every site the truth says breaks the display duty is uncertain to the static pass
    truth_display = {(f["domain"], f["ip"]) for f in rendered.truth["findings"] if f["code"] in DISPLAY}
    picked = [s for s in folded.sites if site_key(s) in uncertain]
    for domain, ip in truth_display:
        assert any((s.domain == domain if domain else s.host == ip) for s in picked), (domain, ip)
    # marks only an image or a script shows are uncertain too
    layouts = {s.domains[0] if s.domains else s.ips[0]: s.params.get("layout") for s in rendered.world.sites}
    for s in folded.sites:
        if site_key(s) in filed and layouts.get(s.domain or s.host) in ("image", "image-alt", "script"):
            assert site_key(s) in uncertain, s.target
    # a sample is a stable share of the filed sites
    ten, again, half = keys("sample:10"), keys("sample:10"), keys("sample:50")
    assert ten == again and ten < half < filed and keys("sample:100") == filed
    assert 0.03 < len(ten) / len(filed) < 0.2 and 0.35 < len(half) / len(filed) < 0.65
    for bad in ("sample:0", "sample:101", "sample:x", "some"):
        with pytest.raises(RenderPolicyError, match="--render"):
            parse_policy(bad)


@pytest.mark.parametrize(("render", "env", "says"), [
    ("sample:0", {}, "sample:N takes a whole percentage"),
    ("everything", {}, "expected one of none, uncertain, filed, unfiled, all, sample:N"),
    ("all", {"ICPWATCH_RENDER_DEADLINE": "soon"}, "check ICPWATCH_RENDER_*"),
])
def test_bad_render_options_are_refused_before_anything_runs(tmp_path: Path, render: str, env: dict[str, str],
                                                              says: str) -> None:
    targets = tmp_path / "t.txt"
    targets.write_text("example.cn\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "icpwatch", "sweep", "--targets", str(targets), "--render",
                           render, "--db", f"sqlite:///{tmp_path / 's.sqlite3'}", "--json"],
                          check=False, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert proc.returncode != 0 and proc.stdout == ""
    assert says in proc.stderr


# ---------------------------------------------------------------------------------------------
# the display rules with a rendered document folded in (pure functions, the small registry)
# ---------------------------------------------------------------------------------------------
GOOD = "京ICP备2021000001号-1"


def _rendered(verdict: str, *, status: str = "ok", visible: bool = True, link: bool = True,
              notes: list[str] | None = None, **display: Any) -> dict[str, Any]:
    shown = verdict not in ("no_mark",)
    marks = [{"text": GOOD, "number": GOOD, "kind": "website_filing", "province": "京", "placeholder": False,
              "valid": True, "source": "text", "visible": visible, "hidden_reason": None}] if shown else []
    return {"target": "http://good.cn/", "final_url": "http://good.cn/", "status": status,
            "error": None if status == "ok" else "the page did not finish within 20 s", "marks": marks,
            "display": None if status != "ok" else {
                "number": GOOD if shown else None, "visible": visible and shown,
                "bottom": verdict != "misplaced", "centred": True, "link": link and verdict != "link_missing",
                "link_href": "https://beian.miit.gov.cn/" if link else None, "verdict": verdict,
                "why": "measured", **display},
            "measurements": {"desktop": {"page": {"width": 1366, "height": 2000}}},
            "evidence": {"screenshot": "/evidence/good/bottom.png", "screenshot_sha256": "ab" * 32},
            "notes": notes or []}


def _display_codes(url: str, render: dict[str, Any] | None, static_marks: list[dict[str, Any]],
                   links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    from icpwatch.dbkit import create_engine_for
    from monitor.observations import fold
    from monitor.registryview import RegistryView
    from monitor.rules import build_addresses, judge
    from monitor.sweep import all_addresses
    from tests.monitor.conftest import observation, page

    engine = create_engine_for(url)
    folded = fold([observation("good.cn", page_=page(static_marks, links=links))])
    folded.sites[0].render = render
    registry = RegistryView.load(engine)
    drafts = judge(folded, registry, build_addresses(all_addresses(folded), registry, {}))
    engine.dispose()
    return {d.code: d.evidence for d in drafts if d.code in DISPLAY + ("NUMBER_MISMATCH",)}


def test_rendered_verdict_replaces_the_static_estimate(registry_db: str) -> None:
    from tests.monitor.conftest import mark

    compliant_source = [mark(GOOD)]  # the source looks fine; the browser saw otherwise
    got = _display_codes(registry_db, _rendered("misplaced"), compliant_source)
    assert set(got) == {"NUMBER_MISPLACED"}
    ev = got["NUMBER_MISPLACED"]
    assert ev["display_source"] == "rendered" and ev["placement"]["bottom"] is False
    assert ev["rendered"]["evidence"]["screenshot"] == "/evidence/good/bottom.png"
    assert ev["rendered"]["measurements"]["desktop"]["page"]["width"] == 1366
    assert set(_display_codes(registry_db, _rendered("link_missing", link=False), compliant_source)) == {"LINK_MISSING"}
    assert set(_display_codes(registry_db, _rendered("not_displayed", visible=False), compliant_source)) == {
        "NUMBER_NOT_DISPLAYED"}
    assert set(_display_codes(registry_db, _rendered("no_mark"), compliant_source)) == {"NUMBER_NOT_DISPLAYED"}
    # and the other way: a static "misplaced" the browser measured as compliant raises nothing
    assert _display_codes(registry_db, _rendered("compliant"), [mark(GOOD, in_footer=False)]) == {}
    assert set(_display_codes(registry_db, None, [mark(GOOD, in_footer=False)])) == {"NUMBER_MISPLACED"}


def test_a_render_that_did_not_count_leaves_the_static_estimate(registry_db: str) -> None:
    from tests.monitor.conftest import mark

    static = [mark(GOOD, in_footer=False)]
    for render in (_rendered("compliant", status="timeout"),
                   _rendered("no_mark", charset_garbled=True)):
        got = _display_codes(registry_db, render, static)
        assert set(got) == {"NUMBER_MISPLACED"}
        assert got["NUMBER_MISPLACED"]["display_source"] == "static estimate"
        assert got["NUMBER_MISPLACED"]["render"]["status"] == render["status"]
    # a linked image the browser could not read: unknown, as in the static estimate
    image_link = [{"href": "https://beian.miit.gov.cn/", "host": "beian.miit.gov.cn", "kind": "current",
                   "text": "", "source": "image"}]
    unread = _rendered("no_mark", notes=["images not read: tesseract is not installed"])
    assert _display_codes(registry_db, unread, [], links=image_link) == {}
    assert _display_codes(registry_db, _rendered("no_mark"), [], links=image_link) == {}


def test_renders_are_stored_per_sweep_and_site(store_url: str) -> None:
    from icpwatch.dbkit import create_engine_for, schema_differences
    from monitor.models import Base, Sweep
    from monitor.observations import fold
    from monitor.render import attach, store_renders, stored_renders
    from monitor.store import MonitorStore
    from tests.monitor.conftest import observation

    engine = create_engine_for(store_url)
    try:
        store = MonitorStore(engine)
        assert schema_differences(engine, Base.metadata) == []
        with store.session() as s:
            sweep = Sweep(scope={}, scope_key="k")
            s.add(sweep)
            s.flush()
            sweep_id = sweep.id
        folded = fold([observation("good.cn"), observation("other.cn", ip="127.9.0.11", line=2)])
        docs = {"good.cn|1|good.cn": _rendered("misplaced"), "other.cn|2|other.cn": _rendered("x", status="timeout")}
        store_renders(engine, sweep_id, folded.sites, docs)
        assert stored_renders(engine, sweep_id) == docs
        assert stored_renders(engine, sweep_id + 1) == {}
        assert attach(folded, stored_renders(engine, sweep_id)) == 2
        assert folded.sites[0].render["display"]["verdict"] == "misplaced"
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# a page that hangs in the browser
# ---------------------------------------------------------------------------------------------
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        "<main style='height:1200px'>公司简介</main>{extra}<footer style='text-align:center'>"
        "<a href='https://beian.miit.gov.cn/'>京ICP备2021000001号-1</a></footer></body></html>")


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # The static crawler reads the bytes and never runs the script; a browser hangs in it.
        extra = "<script>for (;;) {}</script>" if self.path.startswith("/hang") else ""
        body = PAGE.format(title=self.path, extra=extra).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_hung_page_is_cut_at_the_deadline_and_listed(tmp_path: Path) -> None:
    import base64
    import time

    require_chromium()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        targets = tmp_path / "targets.txt"
        targets.write_text(f"http://127.0.0.1:{port}/hang\nhttp://127.0.0.1:{port}/fine\n", encoding="utf-8")
        env = {**os.environ, "ICPWATCH_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
               "ICPWATCH_RENDER_DEADLINE": "8", "ICPWATCH_RENDER_CONCURRENCY": "1"}
        env.pop("ICPWATCH_CHROMIUM", None)
        started = time.monotonic()
        doc = icpwatch(env, "sweep", "--targets", str(targets), "--allow-private", "--no-ownership", "--render", "all",
                       "--db", f"sqlite:///{tmp_path / 'store.sqlite3'}", "--json", timeout=180)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    r = doc["render"]
    assert r["available"] is True and r["selected"] == 2
    assert r["rendered"] == 1 and r["failed"] == 1
    (failure,) = r["failures"]
    assert failure["url"].endswith("/hang") and failure["status"] == "timeout" and "8 s" in failure["error"]
    assert doc["findings"] == []  # unknown, never a finding
    assert took < 120
