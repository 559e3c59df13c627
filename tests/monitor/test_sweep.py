"""The acceptance test: full sweeps over the served default sandbox world, compared with the
world's ground truth — every finding it lists is raised (recall), none it does not list
(precision), each with the right party and article; unknown targets are exactly the world's
failing ones. Then: a second sweep, crawled by two worker processes, sees the same violations
(one finding, two sightings) and the same unknown targets, the
diff of the two, and a sweep of the second crawl after a filing is added (its findings resolve).

The world is ``sandbox.generate.generate_world()`` (the default world: seed 1, 300 sites with the
whole catalogue) on a private 127.x /24, served on ports 80/443 with DNS and RDAP on free
loopback ports; sweeps run ``icpwatch sweep`` in a subprocess (the Twisted reactor runs once
per process). All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.served import icpwatch, served_world

pytestmark = pytest.mark.slow

NET = f"127.{150 + os.getpid() % 50}.{os.getpid() // 50 % 250}.0/24"


class World:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    from sandbox.generate import ground_truth

    with served_world(tmp_path_factory.mktemp("sweep-world"), NET) as w:
        first = icpwatch(w.env, "sweep", *w.args)
        # the second sweep crawls with two worker processes sharing a Redis queue: what it sees
        # must be what one process saw
        second = icpwatch(w.env, "sweep", *w.args, "--workers", "2")
        # served until the module ends: a later sweep of a stored run still asks the sandbox's
        # DNS who owns the addresses no IP filing record covers
        yield World(world=w.world, truth=ground_truth(w.world), db=w.db, env=w.env, tmp=w.tmp, first=first,
                    second=second, args=w.args, key=w.key, info=w.info)


def _key(code: str, domain: str | None, ip: str | None, party: str | None,
         party_kind: str) -> tuple[str, str | None, str | None, str]:
    return (code, domain or ip, party, party_kind)


def test_every_truth_finding_is_raised_and_nothing_else(served: World) -> None:
    expected = {_key(f["code"], f["domain"], f["ip"], f["party"], f["party_kind"]): f
                for f in served.truth["findings"]}
    got = {_key(f["code"], f["domain"], f["ip"], f["provider"], f["party_kind"]): f
           for f in served.first["findings"]}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    recall = 1 - len(missing) / len(expected)
    precision = 1 - len(extra) / len(got)
    assert not missing and not extra, f"recall {recall:.3f} precision {precision:.3f}\nmissing {missing}\nextra {extra}"
    assert len(served.first["findings"]) == len(expected)  # one finding per truth entry, no duplicates
    for k, f in got.items():
        assert f["article"] == expected[k]["article"] and f["points"] == expected[k]["points"], k
        assert f["status"] == "suspected" and f["new"] is True


def test_unknown_targets_are_exactly_the_failing_sites(served: World) -> None:
    hosts = {s.id: s.host for s in served.world.sites}
    assert {u["target"] for u in served.first["unknown"]} == {hosts[i] for i in served.truth["unknown"]}
    for u in served.first["unknown"]:
        assert u["status"] != "ok" and u["error"]


def test_sweep_json_document_shape(served: World) -> None:
    doc = served.first
    assert {"sweep_id", "counts", "unknown", "findings"} <= set(doc)
    assert set(doc["counts"]["dns"]) == {"nxdomain", "servfail", "timeout", "refused"}
    assert doc["counts"]["ok"] > 0 and all(isinstance(v, int) for k, v in doc["counts"].items() if k != "dns")
    for f in doc["findings"]:
        assert set(f) == {"id", "code", "target", "domain", "redirect_to", "ip", "provider", "party_kind",
                          "article", "points", "status", "new"}
    redirects = [f for f in doc["findings"] if f["code"] == "UNFILED_REDIRECT"]
    assert redirects and all(f["redirect_to"] and f["party_kind"] == "registrar" for f in redirects)
    ip_only = [f for f in doc["findings"] if f["code"] == "UNFILED_SITE" and f["domain"] is None]
    assert ip_only and all(f["ip"] for f in ip_only)
    unreported = [f for f in doc["findings"] if f["code"] == "IP_UNREPORTED"]
    assert unreported and all(f["party_kind"] == "analyst" for f in unreported)
    assert doc["render"]["policy"] == "none" and doc["render"]["rendered"] == 0  # the default renders nothing
    assert not any("no browser" in n for n in doc["notes"])


def test_second_sweep_sees_the_same_findings_again(served: World) -> None:
    first = {f["id"]: f for f in served.first["findings"]}
    second = {f["id"]: f for f in served.second["findings"]}
    assert first.keys() == second.keys()
    assert not any(f["new"] for f in second.values())
    assert sorted(u["target"] for u in served.first["unknown"]) == sorted(u["target"] for u in served.second["unknown"])
    one = next(iter(second))
    shown = icpwatch(served.env, "findings", "show", str(one), "--db", served.db, "--json")
    assert [s["sweep_id"] for s in shown["sightings"]] == [served.first["sweep_id"], served.second["sweep_id"]]
    assert shown["evidence"] and shown["code"] == second[one]["code"]


def test_diff_of_the_two_sweeps_and_bulk_verification(served: World) -> None:
    a, b = served.first["sweep_id"], served.second["sweep_id"]
    doc = icpwatch(served.env, "findings", "list", "--sweep", str(b), "--diff", str(a), "--db", served.db, "--json")
    assert doc["counts"]["new"] == doc["counts"]["resolved"] == 0
    assert doc["counts"]["persisting"] == len(served.second["findings"])
    done = icpwatch(served.env, "findings", "dismiss", "--sweep", str(b), "--all", "--by", "tester",
                    "--reason", "acceptance test", "--db", served.db, "--json")
    assert len(done["changed"]) == len(served.second["findings"])
    listed = icpwatch(served.env, "findings", "list", "--status", "dismissed", "--db", served.db, "--json")
    assert listed["count"] == len(served.second["findings"])


def test_a_filing_added_resolves_its_findings(served: World) -> None:
    """Judge the second crawl again after the registry files an unfiled site: its UNFILED_SITE and
    UNFILED_RESOLVED findings resolve in the diff (a third sweep, same scope, ``--run``)."""
    from registry.importer import import_file
    from registry.protection import Protector
    from registry.store import open_store
    from tests.monitor.conftest import write_csv

    unfiled = next(f for f in served.second["findings"] if f["code"] == "UNFILED_SITE" and f["domain"]
                   and f["party_kind"] == "provider")
    from registry.domains import independent_domain

    domain = independent_domain(unfiled["domain"])
    rows = [["website_number", "subject_name", "subject_type", "subject_province", "website_name", "domains",
             "providers", "status"],
            ["京ICP备2099000001号-1", "北京补办公司", "单位", "京", "补办网", domain, unfiled["provider"], "filed"]]
    store = open_store(served.db)
    import_file(store, "filings", write_csv(served.tmp / "late.csv", rows), protector=Protector(served.key))
    store.dispose()
    run_id = served.second["crawl_run_id"]
    third = icpwatch(served.env, "sweep", *served.args, "--run", run_id)
    doc = icpwatch(served.env, "findings", "list", "--sweep", str(third["sweep_id"]), "--diff",
                   str(served.second["sweep_id"]), "--db", served.db, "--json")
    resolved = {(f["code"], f["domain"]) for f in doc["resolved"]}
    assert ("UNFILED_SITE", unfiled["domain"]) in resolved and ("UNFILED_RESOLVED", unfiled["domain"]) in resolved
    # …and so do the redirects that led to it: the site they end on is filed now
    assert all(f["domain"] == unfiled["domain"] or (f["code"] == "UNFILED_REDIRECT" and domain in f["redirect_to"])
               for f in doc["resolved"]), doc["resolved"]
    assert all(f["domain"] == unfiled["domain"] for f in doc["new"])  # e.g. its display duty, now it is filed
