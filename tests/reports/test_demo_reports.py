"""`icpwatch demo` ends by writing the notice of unfiled sites and the scorecards of its world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_writes_the_notice_and_the_scorecards(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "icpwatch", "demo", "--workdir", str(tmp_path / "demo"), "--json"],
                          capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    written = summary["reports"]
    html, pdf = (Path(p) for p in written["notice"])
    assert html.suffix == ".html" and pdf.read_bytes().startswith(b"%PDF")
    assert "未备案网站通报" in html.read_text(encoding="utf-8")
    parties = {code for code, points in summary["points_by_party"].items() if points}
    assert parties and parties <= {Path(p).stem.removeprefix("scorecard-") for p in written["scorecards"]}
    for path in written["scorecards"]:
        assert "记分" in Path(path).read_text(encoding="utf-8")
