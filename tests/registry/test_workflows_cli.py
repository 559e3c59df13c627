"""``icpwatch filing …`` end to end through the real command: a new filing from a YAML record to
``registry lookup``, refusals as one-line errors, the calendar commands, ``--json`` printing one
document, and ``--help`` on every sub-command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from icpwatch.cli import main
from registry.workflows.cli import filing
from tests.registry.helpers import EXAMPLES, write_csv

RECORD = {
    "subject_name": "杭州青山网络有限公司", "subject_type": "单位", "subject_province": "浙江",
    "subject_certificate": "91330106MA2CDE1234", "website_name": "青山网络", "contact_name": "钱八",
    "contact_phone": "13600003333", "contact_id": "330106199203041234",
    "domains": ["qingshan-net.cn"], "ips": ["203.0.113.90"],
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    as_json(invoke("registry", "import", "providers", str(EXAMPLES / "providers.csv"), "--db", url, "--json"))
    as_json(invoke("registry", "import", "blacklist", str(EXAMPLES / "blacklist.csv"), "--db", url, "--json"))
    return url


def test_a_new_filing_from_the_command_line_to_lookup(db: str, tmp_path: Path) -> None:
    record = tmp_path / "record.yaml"
    record.write_text(yaml.safe_dump(RECORD, allow_unicode=True), encoding="utf-8")
    app = as_json(invoke("filing", "submit", str(record), "--provider", "HUAYUN", "--by", "钱八", "--db", db, "--json"))
    assert app["state"] == "submitted" and app["record"]["contact_phone"] == "136****3333"
    ident = str(app["id"])
    refused = invoke("filing", "verify", ident, "--provider", "HUAYUN", "--by", "李核验", "--db", db, "--json")
    assert refused.exit_code == 1 and refused.stdout == "" and "truthfulness check" in refused.output
    verified = as_json(invoke("filing", "verify", ident, "--provider", "HUAYUN", "--by", "李核验", "--method", "当面核验",
                              "--reference", "HY-1", "--db", db, "--json"))
    assert verified["state"] == "in_review" and verified["review_province"] == "浙江"
    wrong = invoke("filing", "approve", ident, "--province", "北京", "--by", "京局", "--db", db)
    assert wrong.exit_code == 1 and "decided by the 浙江 authority" in wrong.output
    done = as_json(invoke("filing", "approve", ident, "--province", "浙江", "--by", "浙局", "--db", db, "--json"))
    number = done["result"]["website_number"]
    assert number.startswith("浙ICP备") and number.endswith("号-1") and len(done["password"]) >= 12
    found = as_json(invoke("registry", "lookup", "qingshan-net.cn", "--db", db, "--json"))
    assert (found["filed"], found["website_number"]) == (True, number)
    shown = as_json(invoke("filing", "show", ident, "--db", db, "--json"))
    assert [t["action"] for t in shown["transitions"]] == ["submit", "provider_verify", "auto_check_pass", "approve"]
    assert "password" not in shown and "13600003333" not in json.dumps(shown, ensure_ascii=False)
    listed = as_json(invoke("filing", "list", "--provider", "HUAYUN", "--db", db, "--json"))
    assert [a["id"] for a in listed] == [app["id"]]
    assert as_json(invoke("filing", "list", "--provider", "XINGHE", "--db", db, "--json")) == []
    table = invoke("filing", "show", ident, "--db", db)
    assert table.exit_code == 0 and "in_review → approved" in table.stdout
    # added access with the number and the password (from the environment, not the command line)
    result = CliRunner().invoke(main, ["filing", "add-access", number, "--provider", "XINGHE", "--by", "周核验",
                                       "--db", db, "--json"], env={"ICPWATCH_FILING_PASSWORD": done["password"]})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "add_access"
    bad = CliRunner().invoke(main, ["filing", "cancel", number, "--as", "host", "--provider", "HUAYUN", "--by", "钱八",
                                    "--reason", "停办", "--password", "not-it", "--db", db])
    assert bad.exit_code == 1 and "not its password" in bad.output


def test_invalid_steps_and_inputs_are_one_line_errors(db: str, tmp_path: Path) -> None:
    missing = invoke("filing", "show", "42", "--db", db, "--json")
    assert missing.exit_code == 1 and "no filing application 42" in missing.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("- just\n- a list\n", encoding="utf-8")
    result = invoke("filing", "submit", str(broken), "--provider", "HUAYUN", "--by", "x", "--db", db)
    assert result.exit_code == 1 and "expected a mapping" in result.output
    record = tmp_path / "r.json"
    record.write_text(json.dumps({**RECORD, "colour": "red"}, ensure_ascii=False), encoding="utf-8")
    result = invoke("filing", "submit", str(record), "--provider", "HUAYUN", "--by", "x", "--db", db)
    assert result.exit_code == 1 and "unknown field(s) colour" in result.output
    record.write_text(json.dumps(RECORD, ensure_ascii=False), encoding="utf-8")
    app = as_json(invoke("filing", "submit", str(record), "--provider", "HUAYUN", "--by", "x", "--db", db, "--json"))
    result = invoke("filing", "reset", str(app["id"]), "--province", "浙江", "--by", "y", "--db", db)
    assert result.exit_code == 1 and "new_filing application" in result.output and "Traceback" not in result.output
    result = invoke("filing", "approve", str(app["id"]), "--province", "浙江", "--by", "y", "--db", db)
    assert result.exit_code == 1 and "cannot approve from state 'submitted'" in result.output


def test_calendar_load_show_and_deadline(db: str, tmp_path: Path) -> None:
    before = as_json(invoke("filing", "calendar", "deadline", "2026-12-24", "10", "--db", db, "--json"))
    assert before == {"due": "2027-01-07", "estimated": True, "start": "2026-12-24", "working_days": 10,
                      "estimated_years": [2027]}
    schedule = write_csv(tmp_path / "2027.csv", "date,kind,name", "2027-01-01,holiday,元旦", "2027-01-04,holiday,调休")
    loaded = as_json(invoke("filing", "calendar", "load", str(schedule), "--by", "运维", "--db", db, "--json"))
    assert loaded["year"] == 2027 and loaded["holidays"] == 2
    after = as_json(invoke("filing", "calendar", "deadline", "2026-12-24", "10", "--db", db, "--json"))
    assert after["due"] == "2027-01-11" and after["estimated"] is False
    shown = as_json(invoke("filing", "calendar", "show", "--year", "2027", "--db", db, "--json"))
    assert shown["year"]["source"] == "official" and [d["date"] for d in shown["year"]["differs_from_plain_week"]] == [
        "2027-01-01", "2027-01-04"]
    assert shown["loaded"][0]["loaded_by"] == "运维"
    bad = write_csv(tmp_path / "bad.csv", "date,kind", "2027-01-04,workday")
    result = invoke("filing", "calendar", "load", str(bad), "--by", "运维", "--db", db)
    assert result.exit_code == 1 and "row 2, column 'kind'" in result.output
    example = as_json(invoke("filing", "calendar", "load", str(EXAMPLES / "work-calendar-2026.csv"), "--by", "运维",
                             "--db", db, "--json"))
    assert (example["year"], example["holidays"], example["workdays"]) == (2026, 33, 6)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, prefix + (name,))
        else:
            out.append(prefix + (name,))
    return out


def test_every_filing_command_has_help() -> None:
    paths = _commands(filing)
    assert len(paths) >= 24
    for path in paths:
        result = invoke("filing", *path, "--help")
        assert result.exit_code == 0 and "Usage: " in result.output and " ".join(("filing",) + path) in result.output, path
