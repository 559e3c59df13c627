"""The ``icpwatch`` command: --help everywhere, --json prints one document and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from icpwatch.cli import main
from tests.registry.helpers import EXAMPLES, ORDER


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "icpwatch")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _icpwatch(*args: str, db: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    env = {**os.environ, "ICPWATCH_DB": db}
    return subprocess.run([sys.executable, "-m", "icpwatch", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_import_and_lookup_json_over_the_real_command(sqlite_url: str, tmp_path: Path) -> None:
    for kind in ORDER:
        done = _icpwatch("registry", "import", kind, str(EXAMPLES / f"{kind}.csv"), "--json", db=sqlite_url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)  # the whole of stdout is one JSON document
        assert document["imported"] is True and document["kind"] == kind
    done = _icpwatch("registry", "lookup", "www.yunfan-blog.cn", "--json", db=sqlite_url, cwd=tmp_path)
    answer = json.loads(done.stdout)
    assert answer["kind"] == "domain" and answer["filed"] is True and answer["website_number"] == "浙ICP备2020054321号-3"
    number = json.loads(_icpwatch("registry", "lookup", "浙ICP备2020054321号-3", "--json", db=sqlite_url, cwd=tmp_path).stdout)
    assert {"normalized", "province", "valid", "placeholder"} <= set(number) and number["kind"] == "number"
    ip = json.loads(_icpwatch("registry", "lookup", "198.51.100.7", "--json", db=sqlite_url, cwd=tmp_path).stdout)
    assert (ip["kind"], ip["cidr"], ip["unit"], ip["provider"]) == ("ip", "198.51.100.0/27", "HUAYUN", "HUAYUN-ZJ")


def test_default_store_is_a_file_in_the_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ICPWATCH_DB"}
    done = subprocess.run([sys.executable, "-m", "icpwatch", "registry", "import", "providers",
                           str(EXAMPLES / "providers.csv")], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "icpwatch.sqlite3").is_file()


def test_rejected_import_exits_non_zero_with_masked_errors(sqlite_url: str, tmp_path: Path) -> None:
    _icpwatch("registry", "import", "providers", str(EXAMPLES / "providers.csv"), db=sqlite_url, cwd=tmp_path)
    bad = tmp_path / "filings.csv"
    text = (EXAMPLES / "filings.csv").read_text(encoding="utf-8").replace("13812345678", "1381234567x")
    bad.write_text(text, encoding="utf-8")
    done = _icpwatch("registry", "import", "filings", str(bad), db=sqlite_url, cwd=tmp_path)
    assert done.returncode != 0
    assert "nothing was imported" in done.stderr and "contact_phone" in done.stderr
    for secret in ("1381234567x", "110101199003071234", "13987654321"):
        assert secret not in done.stderr + done.stdout
    as_json = _icpwatch("registry", "import", "filings", str(bad), "--json", db=sqlite_url, cwd=tmp_path)
    document = json.loads(as_json.stdout)
    assert document["imported"] is False and document["errors"][0]["row"] == 2
    assert "1381234567x" not in as_json.stdout


def test_export_masks_confidential_columns(sqlite_url: str, tmp_path: Path) -> None:
    for kind in ORDER:
        _icpwatch("registry", "import", kind, str(EXAMPLES / f"{kind}.csv"), db=sqlite_url, cwd=tmp_path)
    for suffix in (".csv", ".xlsx"):
        out = tmp_path / f"filings{suffix}"
        done = _icpwatch("registry", "export", "filings", str(out), "--json", db=sqlite_url, cwd=tmp_path)
        assert json.loads(done.stdout)["rows"] == 7
    text = (tmp_path / "filings.csv").read_text(encoding="utf-8-sig")
    assert "138****5678" in text and "110101********1234" in text
    for secret in ("13812345678", "110101199003071234", "91110105MA01ABCD2X"):
        assert secret not in text
    import pandas as pd

    workbook = pd.read_excel(tmp_path / "filings.xlsx", dtype=str).to_csv()
    assert "13812345678" not in workbook and "138****5678" in workbook


def test_logs_are_masked(sqlite_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c",
         "import logging, sys; from icpwatch.cli import main; "
         "main(['-vv','registry','lookup','example.cn'], standalone_mode=False); "
         "logging.getLogger('probe').warning('contact 13812345678 id 110101199003071234')"],
        capture_output=True, text=True, env={**os.environ, "ICPWATCH_DB": sqlite_url}, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "contact 138****5678 id 110101********1234" in done.stderr
    assert "13812345678" not in done.stderr and "110101199003071234" not in done.stderr
