"""``icpwatch inspect TARGET [--no-render] [--json]``: a URL or a local .html file, rendered or
(without a browser, or when asked) the static estimate, always saying which."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.generate import generate_world
from sandbox.serve import Sandbox

from .render_support import plain_site, require_chromium

ROOT = Path(__file__).resolve().parents[2]
NET = f"127.{(os.getpid() + 61) % 100 + 110}.0.0/16"
MARK_KEYS = {"text", "number", "kind", "province", "placeholder", "source", "visible"}
DISPLAY_KEYS = {"number", "visible", "bottom", "centred", "link", "link_href", "verdict"}

COMPLIANT = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>样例</title>
<style>body{margin:0} main{height:1500px} footer{text-align:center;padding:12px}</style></head>
<body><main>正文</main><footer><p>电话：010-12345678 邮箱：info@example.cn</p>
<p><a href="https://beian.miit.gov.cn/">京ICP备2021000001号-1</a></p>
<p>京公网安备11010802020000号</p></footer></body></html>"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icpwatch", "inspect", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "home.html"
    path.write_text(COMPLIANT, encoding="utf-8")
    return path


def test_local_file_json_has_the_documented_shape(page: Path, tmp_path: Path) -> None:
    require_chromium()
    done = run(str(page), "--json", "--evidence-dir", str(tmp_path / "ev"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # stdout is one JSON document and nothing else
    assert doc["target"] == str(page) and doc["rendered"] is True and doc["status"] == "ok"
    assert {"final_url", "marks", "display", "contact", "measurements", "evidence"} <= doc.keys()
    for m in doc["marks"]:
        assert MARK_KEYS <= m.keys()
    icp = next(m for m in doc["marks"] if m["kind"] == "website_filing")
    assert icp == {**icp, "number": "京ICP备2021000001号-1", "province": "京", "placeholder": False,
                   "source": "text", "visible": True}
    assert any(m["kind"] == "public_security" for m in doc["marks"])
    assert DISPLAY_KEYS <= doc["display"].keys()
    assert doc["display"]["verdict"] == "compliant"
    assert doc["display"]["link_href"] == "https://beian.miit.gov.cn/"
    assert doc["contact"]["phone"] and doc["contact"]["email"] == ["info@example.cn"]
    assert doc["measurements"]["desktop"]["page"]["height"] >= 1500
    assert doc["measurements"]["mobile"]["viewport"] == {"width": 375, "height": 667}
    assert Path(doc["evidence"]["screenshot"]).is_file()


def test_no_render_falls_back_to_the_static_estimate_and_says_so(page: Path, tmp_path: Path) -> None:
    done = run(str(page), "--json", "--no-render", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["rendered"] is False
    assert any("not rendered" in n and "static estimate" in n for n in doc["notes"])
    assert doc["display"]["number"] == "京ICP备2021000001号-1" and doc["display"]["estimate"] is True
    assert doc["display"]["verdict"] == "compliant"
    assert doc["evidence"]["screenshot"] is None


def test_missing_browser_falls_back_with_a_warning(page: Path, tmp_path: Path) -> None:
    done = run(str(page), "--json", "--chromium", str(tmp_path / "no-such-chromium"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["rendered"] is False
    assert "no browser" in done.stderr and any("no browser" in n for n in doc["notes"])


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run(str(tmp_path / "nope.html"), "--json", cwd=tmp_path)
    assert done.returncode == 2 and "nope.html: no such file" in done.stderr and not done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = generate_world(seed=5, network=NET)
    sites = {layout: plain_site(world, layout=layout) for layout in ("bottom-centre", "top", "script")}
    with Sandbox(world, dns="127.0.0.1:0", http_port=0, https_port=0,
                 state_dir=tmp_path_factory.mktemp("inspect-world")) as box:
        yield sites, box.info


def _url(served, layout: str) -> str:
    sites, info = served
    return f"http://{sites[layout].domains[0]}:{info['http_port']}/"


def test_url_through_the_sandbox_resolver(served, tmp_path: Path) -> None:
    require_chromium()
    _, info = served
    common = ["--resolver", info["dns"], "--ca-file", info["ca_file"], "--allow-private", "--json",
              "--evidence-dir", str(tmp_path)]
    top = json.loads(run(_url(served, "top"), *common, cwd=tmp_path).stdout)
    assert top["display"]["verdict"] == "misplaced" and top["display"]["bottom"] is False
    script = json.loads(run(_url(served, "script"), *common, cwd=tmp_path).stdout)
    assert script["display"]["verdict"] == "compliant"
    assert next(m for m in script["marks"] if m["kind"] == "website_filing")["source"] == "script"
    # the static estimate cannot see what the script writes: it says so rather than guessing
    static = json.loads(run(_url(served, "script"), *common, "--no-render", cwd=tmp_path).stdout)
    assert static["rendered"] is False
    assert all(m["source"] == "script" for m in static["marks"] if m["kind"] == "website_filing")


def test_loopback_url_is_refused_without_allow_private(served, tmp_path: Path) -> None:
    require_chromium()
    _, info = served
    done = run(_url(served, "bottom-centre"), "--resolver", info["dns"], "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "refused" and doc["display"] is None
    assert "loopback" in doc["error"]


def test_human_output_names_the_verdict(page: Path, tmp_path: Path) -> None:
    require_chromium()
    done = run(str(page), "--evidence-dir", str(tmp_path / "ev"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "verdict    compliant" in done.stdout and "evidence" in done.stdout
