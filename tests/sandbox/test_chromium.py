"""A headless Chromium (Debian's package) sees the served world as the spec describes it:
pages load by name, script-written footers appear only after the script runs, and GBK pages
render as the right characters whenever their declaration is right."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from registry.numbers import find_marks
from sandbox.generate import generate_world
from sandbox.serve import Sandbox

NET = f"127.{(os.getpid() + 71) % 100 + 20}.0.0/16"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is required (scripts/install.sh installs it)")
    world = generate_world(seed=5, network=NET)
    with Sandbox(world, dns="127.0.0.1:0", http_port=0, https_port=0,
                 state_dir=tmp_path_factory.mktemp("chromium-state")) as sandbox:
        yield world, sandbox.info, tmp_path_factory.mktemp("chromium-profile")


def _dump_dom(info: dict, profile: Path, host: str, ip: str) -> str:
    """The DOM after load, as Chromium builds it; ``host`` is mapped to its sandbox address."""
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--host-resolver-rules=MAP {host} {ip}, EXCLUDE localhost",
         "--virtual-time-budget=3000", "--dump-dom", f"http://{host}:{info['http_port']}/"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _site(world, **wanted):
    return next(s for s in world.sites if s.domains and not s.hostile and s.redirect is None and s.dns == "ok"
                and all(s.params.get(k) == v if k in s.params else getattr(s, k) == v for k, v in wanted.items()))


def test_chromium_loads_a_site_by_name(box) -> None:
    world, info, profile = box
    site = _site(world, template="company", layout="bottom-centre")
    dom = _dump_dom(info, profile, site.domains[0], site.ips[0])
    assert site.params["name"] in dom
    assert any(m.is_icp for m in find_marks(dom))


def test_script_written_footer_exists_only_after_the_script_runs(box) -> None:
    world, info, profile = box
    site = _site(world, layout="script")
    import urllib.request

    request = urllib.request.Request(f"http://{site.ips[0]}:{info['http_port']}/", headers={"Host": site.domains[0]})
    with urllib.request.urlopen(request, timeout=5) as response:
        source = response.read().decode(site.charset, "replace")
    assert not any(m.is_icp for m in find_marks(source))
    dom = _dump_dom(info, profile, site.domains[0], site.ips[0])
    assert any(m.is_icp for m in find_marks(dom))


@pytest.mark.parametrize(("declare", "readable"),
                         [("meta", True), ("header", True), ("alias", True), ("header-wrong", False)])
def test_gbk_pages_render_as_the_right_characters(box, declare: str, readable: bool) -> None:
    """A browser follows the HTTP header over <meta> (the HTML standard's order), so a page whose
    header names the wrong charset really is unreadable to visitors: the sandbox serves exactly that."""
    world, info, profile = box
    site = next((s for s in world.sites if s.charset == "gbk" and s.declare == declare and s.domains
                 and not s.hostile and s.redirect is None and s.dns == "ok"), None)
    if site is None:
        pytest.fail(f"the default world has no GBK page declared {declare!r}")
    dom = _dump_dom(info, profile, site.domains[0], site.ips[0])
    assert (site.params["name"] in dom) is readable
