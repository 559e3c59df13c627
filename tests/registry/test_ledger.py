"""The scoring ledger on SQLite and PostgreSQL: entries and points (arts. 40–42, 44), cycles,
the art. 43 thresholds, the interface state (arts. 43(3), 55), append-only storage, the hash
chain against direct tampering, concurrent writers, and the CLI."""

from __future__ import annotations

import json
import multiprocessing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from icpwatch.dbkit import schema_differences
from registry.ledger import DuplicateEntry, Ledger, LedgerError
from registry.ledger.standing import SANCTIONS
from registry.models import Base
from registry.store import Store, open_store
from tests.registry.helpers import write_csv, load

MARCH = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)
PAST = date(2026, 3, 10)


@pytest.fixture
def store(store_url: str, tmp_path: Path):
    store = open_store(store_url)
    load(store, "providers", write_csv(tmp_path / "providers.csv", "code,name,province,parent_code",
                                       "GRP,集团公司,京,", "GRP-SH,集团上海公司,沪,GRP", "P2,乙公司,粤,"))
    load(store, "domains", write_csv(tmp_path / "domains.csv", "domain,registrar", "a.cn,REG"))
    load(store, "ip-ranges", write_csv(tmp_path / "ip-ranges.csv", "cidr,unit,user", "127.9.0.0/24,UNIT,GRP"))
    yield store
    store.dispose()


def finding(ledger: Ledger, ref: str, code: str = "GRP", points: int = 5, *, kind: str = "provider",
            at: datetime = MARCH):
    return ledger.record_finding(finding_ref=f"finding:{ref}", object_kind=kind, object_code=code, points=points,
                                 article="41" if points == 5 else "42", code="UNFILED_SITE", observed_at=at,
                                 recorded_by="analyst-wang", detail={"domain": f"{ref}.cn"})


def points(ledger: Ledger, year: int, code: str) -> int:
    return sum(s.points for s in ledger.standings(year, object_code=code))


def test_migrated_schema_equals_the_models(store: Store) -> None:
    assert schema_differences(store.engine, Base.metadata) == []
    assert store.revision() is not None


def test_one_entry_per_finding_with_its_article_and_recorder(store: Store) -> None:
    ledger = Ledger(store)
    entry = finding(ledger, "x")
    assert entry is not None
    assert (entry.points, entry.article, entry.kind, entry.recorded_by, entry.seq) == (5, "41", "finding", "analyst-wang", 1)
    assert entry.finding_ref == "finding:x" and entry.occurred_on == date(2026, 3, 2)
    assert [finding(ledger, "x") for _ in range(3)] == [None, None, None]
    assert finding(ledger, "y", points=2).points == 2
    assert points(ledger, 2026, "GRP") == 7
    assert [e.seq for e in ledger.entries()] == [1, 2]
    assert ledger.entries()[0].as_dict()["detail"] == {"domain": "x.cn"}


def test_group_and_provincial_companies_and_units_are_scored_apart(store: Store) -> None:
    ledger = Ledger(store)
    finding(ledger, "a", "GRP")
    finding(ledger, "b", "GRP-SH")
    finding(ledger, "c", "REG", kind="domain_unit")
    ledger.record_penalty(object_kind="ip_unit", object_code="UNIT", penalty="criticism", reference="x",
                          decided_on=PAST, recorded_by="bureau", reason="IP地址报备不准确")
    standings = {(s.kind, s.code): s for s in ledger.standings(2026)}
    assert {k: s.points for k, s in standings.items()} == {("provider", "GRP"): 5, ("provider", "GRP-SH"): 5,
                                                          ("domain_unit", "REG"): 5, ("ip_unit", "UNIT"): 5}
    assert standings[("provider", "GRP")].name == "集团公司"
    assert [s.code for s in ledger.standings(2026, object_kind="domain_unit")] == ["REG"]


def test_the_cycle_is_the_calendar_year_in_china(store: Store) -> None:
    ledger = Ledger(store)
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Beijing.
    entry = finding(ledger, "new-year", at=datetime(2026, 12, 31, 17, 0, tzinfo=timezone.utc))
    assert (entry.year, entry.occurred_on) == (2027, date(2027, 1, 1))
    finding(ledger, "old-year", at=datetime(2026, 12, 31, 15, 0, tzinfo=timezone.utc))
    assert points(ledger, 2026, "GRP") == 5 and points(ledger, 2027, "GRP") == 5
    assert ledger.monthly_points(2026, "GRP")[12] == 5 and ledger.monthly_points(2027, "GRP")[1] == 5


def test_penalties_score_per_article_40_and_refuse_bad_input(store: Store) -> None:
    ledger = Ledger(store)
    kinds = {"criticism": 5, "order_to_correct": 5, "fine": 10}
    for number, (penalty, expected) in enumerate(kinds.items()):
        entry = ledger.record_penalty(object_kind="provider", object_code="P2", penalty=penalty,
                                      reference=f"粤通管罚〔2026〕{number}号", decided_on=PAST,
                                      recorded_by="bureau", reason="接入未备案网站")
        assert (entry.points, entry.article, entry.code) == (expected, "40", penalty)
    assert points(ledger, 2026, "P2") == 20
    with pytest.raises(DuplicateEntry, match="already recorded as entry 1"):
        ledger.record_penalty(object_kind="provider", object_code="P2", penalty="fine",
                              reference="粤通管罚〔2026〕0号", decided_on=PAST, recorded_by="b", reason="r")
    bad = [dict(penalty="warning"), dict(object_code="NOPE"), dict(object_kind="isp"),
           dict(decided_on=date.today() + timedelta(days=3)), dict(reason=" "), dict(recorded_by="")]
    for change in bad:
        arguments = dict(object_kind="provider", object_code="P2", penalty="fine", reference="new",
                         decided_on=PAST, recorded_by="b", reason="r") | change
        with pytest.raises(LedgerError):
            ledger.record_penalty(**arguments)
    with pytest.raises(LedgerError, match="only with points"):
        finding(ledger, "zero", points=0)
    assert points(ledger, 2026, "P2") == 20 and ledger.verify().ok


def test_thresholds_fire_once_per_cycle_with_date_and_sanction(store: Store) -> None:
    ledger = Ledger(store)
    for i in range(8):
        finding(ledger, f"f{i}")
    standing, = ledger.standings(2026, object_code="GRP")
    assert standing.points == 40
    event, = standing.thresholds
    assert (event.threshold, event.reached_on, event.sanction) == (40, datetime.now(timezone.utc).astimezone(
        timezone(timedelta(hours=8))).date(), SANCTIONS[40])
    assert "整改通知书" in event.sanction and event.triggered_by == standing.entries[7].id
    # Falling below 40 and reaching it again raises nothing new in the same cycle.
    ledger.correct(entry_id=standing.entries[0].id, reason="wrong address", recorded_by="analyst-li")
    finding(ledger, "again")
    standing, = ledger.standings(2026, object_code="GRP")
    assert standing.points == 40 and [t.threshold for t in standing.thresholds] == [40]
    # A fine from 55 raises 60; the next cycle starts from zero.
    for i in range(3):
        finding(ledger, f"g{i}")
    ledger.record_penalty(object_kind="provider", object_code="GRP", penalty="fine", reference="F1",
                          decided_on=PAST, recorded_by="bureau", reason="r")
    standing, = ledger.standings(2026, object_code="GRP")
    assert standing.points == 65 and [t.threshold for t in standing.thresholds] == [40, 60]
    assert "强制进行培训" in standing.thresholds[1].sanction
    assert ledger.standings(2027, object_code="GRP")[0].points == 0
    assert ledger.verify().ok


def test_eighty_suspends_the_interface_until_training_passes(store: Store) -> None:
    ledger = Ledger(store)
    early = ledger.record_training(provider_code="GRP", passed_on=PAST, recorded_by="center", reference="T-early")
    for i in range(16):
        finding(ledger, f"s{i}")
    standing, = ledger.standings(2026, object_code="GRP")
    assert [t.threshold for t in standing.thresholds] == [40, 60, 80]
    assert standing.interface == "suspended" and ledger.interface_state("GRP") == "suspended"
    assert early.seq == 1  # training before the suspension does not reopen it
    assert ledger.interface_state("GRP-SH") == "open"  # the provincial company is scored apart
    # A correction lowers the total, but the sanction stands.
    ledger.correct(entry_id=standing.entries[-2].id, reason="duplicate", recorded_by="analyst")
    assert ledger.interface_state("GRP") == "suspended"
    today = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8))).date()
    training = ledger.record_training(provider_code="GRP", passed_on=today, recorded_by="center", reference="T-1")
    assert ledger.interface_state("GRP") == "open"
    # Training recorded in error is voided by a correction: the suspension is back.
    ledger.correct(entry_id=training.id, reason="certificate forged", recorded_by="center")
    assert ledger.interface_state("GRP") == "suspended"
    with pytest.raises(LedgerError, match="already voided"):
        ledger.correct(entry_id=training.id, reason="again", recorded_by="center")
    with pytest.raises(LedgerError, match="sanction already raised"):
        ledger.correct(entry_id=standing.thresholds[0].entry_id, reason="x", recorded_by="y")
    ledger.record_training(provider_code="GRP", passed_on=today, recorded_by="center", reference="T-2")
    assert ledger.interface_state("GRP") == "open"
    assert ledger.verify().ok


def test_corrections_and_reinstatements_keep_a_finding_counted_at_most_once(store: Store) -> None:
    ledger = Ledger(store)
    original = finding(ledger, "w")
    assert ledger.withdraw_finding(finding_ref="finding:w", reason="dismissed", recorded_by="li").points == -5
    assert ledger.withdraw_finding(finding_ref="finding:w", reason="dismissed", recorded_by="li") is None
    with pytest.raises(LedgerError, match="already counts for nothing"):
        ledger.correct(entry_id=original.id, reason="x", recorded_by="y")
    back = finding(ledger, "w")
    assert (back.kind, back.points, back.corrects_id) == ("reinstatement", 5, original.id)
    assert finding(ledger, "w") is None
    assert points(ledger, 2026, "GRP") == 5
    correction = ledger.correct(entry_id=back.id, reason="wrong provider", recorded_by="li")
    assert (correction.points, correction.corrects_id, correction.reason) == (-5, original.id, "wrong provider")
    assert points(ledger, 2026, "GRP") == 0
    with pytest.raises(LedgerError, match="no ledger entry 999"):
        ledger.correct(entry_id=999, reason="x", recorded_by="y")
    assert ledger.verify().ok


def test_the_database_refuses_update_and_delete(store: Store) -> None:
    finding(Ledger(store), "x")
    for statement in ("UPDATE ledger_entries SET points = 0", "DELETE FROM ledger_entries",
                      "DELETE FROM ledger_chain_head", "UPDATE ledger_chain_head SET seq = 0"):
        with pytest.raises(DatabaseError, match="append-only|only moves forwards|cannot be deleted"):
            with store.engine.begin() as connection:
                connection.execute(text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"):
            with store.engine.begin() as connection:
                connection.execute(text("TRUNCATE ledger_entries CASCADE"))
    assert Ledger(store).verify().ok and points(Ledger(store), 2026, "GRP") == 5


# -- tampering directly in the database ---------------------------------------------------------

TRIGGERS = {"sqlite": ("ledger_entries_no_update", "ledger_entries_no_delete", "ledger_chain_head_no_delete",
                       "ledger_chain_head_forward"),
            "postgresql": ("ledger_entries_append_only ON ledger_entries",
                           "ledger_chain_head_forward ON ledger_chain_head")}


def tamper(store: Store, *statements: str) -> None:
    """What an insider with the database's credentials can do: drop the guards, then edit rows."""
    with store.engine.begin() as connection:
        for trigger in TRIGGERS[store.dialect]:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in statements:
            connection.exec_driver_sql(statement)


@pytest.fixture
def chained(store: Store) -> Ledger:
    ledger = Ledger(store)
    for i in range(6):
        finding(ledger, f"t{i}")
    assert ledger.verify().ok and ledger.verify().checked == 6
    return ledger


@pytest.mark.parametrize(("statements", "bad_seq", "words"), [
    (["UPDATE ledger_entries SET points = 2 WHERE seq = 3"], 3, "was changed"),
    (["UPDATE ledger_entries SET recorded_by = 'someone else' WHERE seq = 1"], 1, "was changed"),
    (["UPDATE ledger_entries SET year = 2025 WHERE seq = 5"], 5, "was changed"),
    (["DELETE FROM ledger_entries WHERE seq = 4"], 5, "removed"),
    (["UPDATE ledger_entries SET seq = 100 WHERE seq = 2", "UPDATE ledger_entries SET seq = 2 WHERE seq = 3",
      "UPDATE ledger_entries SET seq = 3 WHERE seq = 100"], 2, ""),
    (["DELETE FROM ledger_entries WHERE seq = 6"], None, "entries at the end were removed"),
])
def test_verify_names_the_first_tampered_entry(chained: Ledger, statements: list[str], bad_seq: int | None,
                                               words: str) -> None:
    tamper(chained.store, *statements)
    report = chained.verify()
    assert not report.ok
    assert words in (report.problem or "")
    if bad_seq is not None:
        assert report.first_bad_seq == bad_seq and f"(seq {bad_seq})" in (report.problem or "")


def test_a_rewritten_and_rehashed_chain_is_caught_by_an_anchor(chained: Ledger) -> None:
    from registry.ledger.chain import entry_hash
    from registry.ledger.models import LedgerEntry
    from sqlalchemy import select

    anchor = (chained.verify().head_seq, chained.verify().head_hash)
    tamper(chained.store, "DELETE FROM ledger_entries WHERE seq = 6",
           "UPDATE ledger_chain_head SET seq = 5, hash = (SELECT hash FROM ledger_entries WHERE seq = 5)")
    assert chained.verify().ok  # consistent again — which is what an anchor kept elsewhere is for
    report = chained.verify(anchor=anchor)
    assert not report.ok and "rewritten" in (report.problem or "")
    # An edited entry re-hashed in place still breaks the next entry's link.
    with chained.store.session() as session:
        row = session.scalar(select(LedgerEntry).where(LedgerEntry.seq == 2))
        row.points = 1
        forged = entry_hash(row)
        session.expunge(row)
    tamper(chained.store, f"UPDATE ledger_entries SET points = 1, hash = '{forged}' WHERE seq = 2")
    report = chained.verify()
    assert (report.ok, report.first_bad_seq) == (False, 3) and "prev_hash" in (report.problem or "")


def test_threshold_events_are_checked_against_the_points(store: Store) -> None:
    ledger = Ledger(store)
    for i in range(8):
        finding(ledger, f"h{i}")
    assert ledger.verify().ok
    # Re-hashing the whole chain after removing the event keeps the links intact; the replay
    # of the points still notices that 40 was reached without its event.
    from registry.ledger.chain import entry_hash
    from registry.ledger.models import LedgerEntry
    from sqlalchemy import select

    tamper(store, "DELETE FROM ledger_entries WHERE kind = 'threshold'")
    with store.session() as session:
        rows = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
        for row in rows:
            session.expunge(row)
    statements = []
    previous = "0" * 64
    for row in rows:
        row.prev_hash = previous
        row.hash = previous = entry_hash(row)
        statements.append(f"UPDATE ledger_entries SET prev_hash = '{row.prev_hash}', hash = '{row.hash}' "
                          f"WHERE seq = {row.seq}")
    tamper(store, *statements, f"UPDATE ledger_chain_head SET seq = {rows[-1].seq}, hash = '{previous}'")
    report = ledger.verify()
    assert not report.ok and "no art. 43 event was recorded" in (report.problem or "")
    assert report.first_bad_id == rows[-1].id


# -- concurrent writers -------------------------------------------------------------------------

def _writer(url: str, worker: int, shared: int, own: int) -> None:
    store = open_store(url, migrate=False)
    ledger = Ledger(store)
    for i in range(max(shared, own)):
        if i < shared:
            finding(ledger, f"shared-{i}", "GRP" if i % 2 else "P2")
        if i < own:
            finding(ledger, f"own-{worker}-{i}", "GRP-SH")
    store.dispose()


@pytest.mark.slow
def test_concurrent_processes_write_each_finding_once(store: Store, store_url: str) -> None:
    workers, shared, own = 4, 12, 6
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(store_url, w, shared, own)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * workers
    ledger = Ledger(store)
    entries = [e for e in ledger.entries() if e.kind == "finding"]
    refs = [e.finding_ref for e in entries]
    assert len(refs) == len(set(refs)) == shared + workers * own
    assert points(ledger, 2026, "GRP-SH") == 5 * workers * own
    assert points(ledger, 2026, "GRP") + points(ledger, 2026, "P2") == 5 * shared
    report = ledger.verify()
    assert report.ok and report.checked == len(ledger.entries())
    thresholds = [(e.object_code, e.code) for e in ledger.entries() if e.kind == "threshold"]
    assert sorted(thresholds) == [("GRP-SH", "40"), ("GRP-SH", "60"), ("GRP-SH", "80")]


# -- the command line -------------------------------------------------------------------------

def invoke(*args: str):
    from click.testing import CliRunner

    from icpwatch.cli import main  # here, so the writer processes above need not import every command

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_records_shows_and_verifies(store: Store, store_url: str) -> None:
    db = ["--db", store_url]
    result = invoke("ledger", "penalty", "P2", "--penalty", "fine", "--reference", "R-1", "--decided-on", "2026-03-10",
                    "--by", "bureau", "--reason", "接入未备案网站", "--json", *db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["points"] == 10
    for i in range(7):
        finding(Ledger(store), f"c{i}", "P2")
    result = invoke("ledger", "show", "--year", "2026", "--json", *db)
    document = json.loads(result.stdout)
    assert document["year"] == 2026
    p2, = document["objects"]
    assert {k: p2[k] for k in ("code", "kind", "points", "interface")} == {
        "code": "P2", "kind": "provider", "points": 45, "interface": "open"}
    assert [t["threshold"] for t in p2["thresholds"]] == [40] and len(p2["entries"]) == 9
    assert json.loads(invoke("ledger", "show", "--year", "2026", "--object", "GRP", "--json", *db).stdout)[
        "objects"][0]["points"] == 0
    result = invoke("ledger", "correct", str(p2["entries"][0]["id"]), "--by", "bureau", "--reason", "revoked",
                    "--json", *db)
    assert json.loads(result.stdout)["points"] == -10
    result = invoke("ledger", "training", "P2", "--passed-on", "2026-03-11", "--reference", "TR-9", "--by", "center", *db)
    assert result.exit_code == 0 and "interface of P2: open" in result.stderr
    assert "Scoring ledger 2026" in invoke("ledger", "show", "--year", "2026", *db).stdout
    result = invoke("ledger", "verify", "--json", *db)
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
    head = json.loads(result.stdout)["head"]
    assert invoke("ledger", "verify", "--anchor", f"{head['seq']}:{head['hash']}", *db).exit_code == 0
    # bad input: a clear message, nothing recorded
    result = invoke("ledger", "penalty", "P2", "--penalty", "fine", "--reference", "R-2", "--decided-on", "03/10/2026",
                    "--by", "b", "--reason", "r", *db)
    assert result.exit_code == 2 and "--decided-on" in result.output
    result = invoke("ledger", "penalty", "NOPE", "--penalty", "fine", "--reference", "R-2", "--decided-on", "2026-03-10",
                    "--by", "b", "--reason", "r", *db)
    assert result.exit_code == 1 and "unknown provider 'NOPE'" in result.output
    tamper(store, "UPDATE ledger_entries SET points = 50 WHERE seq = 2")
    result = invoke("ledger", "verify", *db)
    assert result.exit_code == 1 and "(seq 2)" in result.stderr and "changed" in result.stderr
    result = invoke("ledger", "verify", "--json", *db)
    assert result.exit_code == 1 and json.loads(result.stdout)["first_bad_seq"] == 2


def test_every_ledger_command_has_help() -> None:
    for command in ("show", "verify", "penalty", "training", "correct"):
        result = invoke("ledger", command, "--help")
        assert result.exit_code == 0 and "--db" in result.output
