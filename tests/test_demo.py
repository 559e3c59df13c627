"""`icpwatch demo` runs the whole chain on a sandbox world and says what it found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_sweeps_a_world_and_reports_findings_and_points(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "icpwatch", "demo", "--workdir", str(tmp_path / "demo"), "--json"],
                          capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["world"]["imported"]["filings"] > 100
    assert summary["findings"] > 50 and summary["unknown"] > 0
    assert {"UNFILED_SITE", "UNFILED_REDIRECT", "NUMBER_MISMATCH", "CANCELLED_STILL_SERVED"} <= set(summary["by_code"])
    assert summary["verified"]["count"] == summary["findings"]
    assert "demo shortcut" in summary["verified"]["reason"]
    assert sum(summary["points_by_party"].values()) > 0
    assert summary["seconds"] < 120
    assert Path(summary["db"].removeprefix("sqlite:///")).is_file()
    # with Chromium here, the homepages whose static display estimate is unsure were rendered
    render = summary["render"]
    assert render["policy"] == "uncertain" and render["available"]
    assert render["rendered"] > 0 and render["rendered"] + render["failed"] == render["selected"]
    # it ends by writing the notice of unfiled sites and each scored party's scorecard
    written = summary["reports"]
    html, pdf = (Path(p) for p in written["notice"])
    assert html.suffix == ".html" and pdf.read_bytes().startswith(b"%PDF")
    assert "未备案网站通报" in html.read_text(encoding="utf-8")
    parties = {code for code, points in summary["points_by_party"].items() if points}
    assert parties and parties <= {Path(p).stem.removeprefix("scorecard-") for p in written["scorecards"]}
    for path in written["scorecards"]:
        assert "记分" in Path(path).read_text(encoding="utf-8")
