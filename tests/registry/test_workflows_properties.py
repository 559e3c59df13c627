"""Property: whatever sequence of steps people attempt on a new filing, the recorded transitions
form one unbroken chain that matches the transition table, refused steps leave no trace, the
stored state is the last transition's, and an approval happens at most once and creates exactly
one filing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from registry.models import Website, WebsiteDomain
from registry.store import open_store
from registry.workflows import Actor, InvalidTransition, Workflows
from registry.workflows.core import TABLES
from registry.workflows.models import Transition
from tests.registry.helpers import load, protector, write_csv

HOST = Actor("王五", "host")
PROVIDER = Actor("李核验", "provider", "P-BJ")
AUTHORITY = Actor("粤局", "authority", "广东")
RECORD = {"subject_name": "广州性质测试有限公司", "subject_type": "单位", "subject_province": "广东",
          "subject_certificate": "91440101MA5PROP12X", "website_name": "性质测试", "contact_name": "王五",
          "contact_phone": "13900001111", "contact_id": "440101199001011234"}
ACTIONS = ("provider_verify", "provider_return", "approve", "return", "resubmit_good", "resubmit_bad", "withdraw")
counter = itertools.count()


@pytest.fixture
def store(tmp_path: Path):
    """One store for all the examples of a run (each example files its own domain)."""
    path = tmp_path
    store = open_store(f"sqlite:///{path / 's.sqlite3'}")
    load(store, "providers", write_csv(path / "p.csv", "code,name,province", "P-BJ,北京甲云,京"))
    load(store, "blacklist", write_csv(path / "b.csv", "kind,value,reason", "domain,evil.cn,违法"))
    yield store
    store.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(ACTIONS), max_size=8), start_good=st.booleans())
@example(steps=["provider_verify", "approve", "approve", "withdraw"], start_good=True)
@example(steps=["provider_verify", "resubmit_good", "provider_verify", "return", "resubmit_bad", "approve"],
         start_good=False)
def test_any_sequence_of_steps_keeps_an_unbroken_recorded_chain(store, steps: list[str], start_good: bool) -> None:
    wf = Workflows(store, protector())
    n = next(counter)
    good = {**RECORD, "domains": [f"prop-{n}.cn"]}
    bad = {"domains": [f"prop-{n}.evil.cn"]}  # blacklisted: the automatic check returns it
    app = wf.submit_new_filing(good if start_good else {**good, **bad}, "P-BJ", HOST)
    state, record_good, approvals = "submitted", start_good, 0
    table = TABLES["new_filing"]
    for step in steps:
        action = "resubmit" if step.startswith("resubmit") else step
        allowed = state in table[action][0]
        try:
            if step == "provider_verify":
                wf.provider_verify(app["id"], PROVIDER, method="当面核验", reference=f"P-{n}")
            elif step == "provider_return":
                wf.provider_return(app["id"], PROVIDER, "不实")
            elif step == "approve":
                wf.approve(app["id"], AUTHORITY)
            elif step == "return":
                wf.return_(app["id"], AUTHORITY, "不符")
            elif step == "withdraw":
                wf.withdraw(app["id"], HOST, "撤回")
            else:
                wf.resubmit(app["id"], HOST, good if step == "resubmit_good" else {**good, **bad})
        except InvalidTransition as exc:
            assert not allowed, (state, action)
            assert exc.state == state
            continue
        assert allowed, (state, action)
        if action == "provider_verify":
            state = "in_review" if record_good else "returned"
        else:
            state = table[action][1]
        if step.startswith("resubmit"):
            record_good = step == "resubmit_good"
        approvals += action == "approve"
    shown = wf.show(app["id"])
    assert shown["state"] == state
    chain = shown["transitions"]
    assert chain[0]["from"] is None and chain[-1]["to"] == state
    assert all(a["to"] == b["from"] for a, b in zip(chain, chain[1:]))
    for t in chain:
        froms, to = table[t["action"]]
        assert t["from"] in froms and t["to"] == to and t["by"] and t["role"]
    assert approvals <= 1
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Transition)
                              .where(Transition.application_id == app["id"])) == len(chain)
        sites = session.scalar(select(func.count()).select_from(Website).join(WebsiteDomain)
                               .where(WebsiteDomain.domain == f"prop-{n}.cn"))
    assert sites == approvals  # one filing per approval, none without one
    assert bool(shown["website_number"]) == bool(approvals)
