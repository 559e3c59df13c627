"""The filing workflows on SQLite and PostgreSQL, every path arts. 18–22 and annex 1 describe:
new filing with cross-province routing, the automatic check's refusals, returns and resubmission,
added access with the number and password, changes (and the authority's cancellation when no
access is left), cancellation by host, provider and authority, licence conversion, password reset
with its deadline, the suspended-interface refusal, invalid transitions, and concurrent approvals."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from icpwatch.clikit import dumps
from icpwatch.dbkit import schema_differences
from registry.ledger import Ledger
from registry.ledger.standing import china_date
from registry.lookup import Registry
from registry.models import AccessRecord, Base, Website
from registry.protection import verify_password
from registry.store import Store, open_store
from registry.workdays import add_working_days
from registry.workflows import (
    Actor,
    CheckFailed,
    Concurrent,
    Incomplete,
    InterfaceSuspended,
    InvalidRecord,
    InvalidTransition,
    NotAllowed,
    PasswordRejected,
    Workflows,
)
from registry.workflows.checks import region_names_in
from registry.workflows.models import Application, FilingCredential, Transition
from tests.registry.helpers import load, protector, write_csv

NOW = datetime(2026, 9, 28, 2, 0, tzinfo=timezone.utc)  # Monday 28 September 2026, 10:00 in Beijing

HOST = Actor("王五", "host")
BJ_PROVIDER = Actor("李核验", "provider", "P-BJ")
GD_PROVIDER = Actor("陈核验", "provider", "P-GD")
SH_PROVIDER = Actor("周核验", "provider", "P-SH")
GD_AUTHORITY = Actor("粤局审核员", "authority", "广东")
BJ_AUTHORITY = Actor("京局审核员", "authority", "北京")

GOOD: dict[str, Any] = {
    "subject_name": "广州新禾科技有限公司", "subject_type": "单位", "subject_province": "广东",
    "subject_certificate": "91440101MA5CXY1234", "website_name": "新禾科技", "contact_name": "王五",
    "contact_phone": "13900001111", "contact_id": "440101199001011234",
    "domains": ["xinhe-tech.cn", "www.xinhe-tech.cn"], "ips": ["203.0.113.50"],
}
OLD_NUMBER = "京ICP备2021000001号-1"
OLD_MATERIALS = {"subject_certificate": "91110105MA01ABCD2X", "contact_phone": "13812345678",
                 "contact_id": "110101199003071234"}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(store_url: str, tmp_path: Path):
    store = open_store(store_url)
    load(store, "providers", write_csv(tmp_path / "providers.csv", "code,name,province,parent_code",
                                       "P-BJ,北京甲云计算有限公司,京,", "P-GD,广东乙云数据有限公司,粤,",
                                       "P-SH,上海丙数据有限公司,沪,"))
    load(store, "blacklist", write_csv(tmp_path / "blacklist.csv", "kind,value,reason", "domain,evil.cn,违法网站",
                                       "subject,黑名单公司,虚假备案", "subject,91440300MA5FAKE00Z,虚假证件"))
    load(store, "filings", write_csv(
        tmp_path / "filings.csv",
        "website_number,subject_name,subject_type,subject_province,website_name,domains,ips,providers,"
        "subject_certificate,contact_name,contact_phone,contact_id",
        f"{OLD_NUMBER},北京旧公司,单位,北京,旧网,taken.cn,198.51.100.7,P-BJ,91110105MA01ABCD2X,赵六,13812345678,"
        "110101199003071234",
        "京ICP备2021000001号-2,北京旧公司,单位,北京,旧网二,taken2.cn,,P-BJ;P-SH,91110105MA01ABCD2X,赵六,"
        "13812345678,110101199003071234"))
    yield store
    store.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wf(store: Store, clock: Clock) -> Workflows:
    return Workflows(store, protector(), clock=clock)


def approved(wf: Workflows, record: dict[str, Any] | None = None, provider: Actor = BJ_PROVIDER) -> dict[str, Any]:
    """A new filing taken through to approval; returns the approval's answer (with the password)."""
    app = wf.submit_new_filing(record or GOOD, provider.organisation or "", HOST)
    wf.provider_verify(app["id"], provider, method="当面核验", reference="TC-1")
    return wf.approve(app["id"], GD_AUTHORITY)


def transitions(wf: Workflows, application_id: int) -> list[tuple[str | None, str, str, str]]:
    return [(t["from"], t["to"], t["action"], t["role"]) for t in wf.show(application_id)["transitions"]]


# -- schema --------------------------------------------------------------------------------------------

def test_migrated_schema_equals_the_models(store: Store) -> None:
    import registry.workflows.models  # noqa: F401  (the models under test are in the metadata)

    assert "filing_applications" in Base.metadata.tables and "work_calendar_days" in Base.metadata.tables
    assert schema_differences(store.engine, Base.metadata) == []
    assert store.revision() == "0003"


# -- new filing (art. 18) --------------------------------------------------------------------------------

def test_new_filing_routed_to_the_subjects_province_and_approved_with_number_and_password(wf: Workflows,
                                                                                        store: Store) -> None:
    app = wf.submit_new_filing(GOOD, "P-BJ", HOST, note="首次备案")
    assert app["state"] == "submitted" and app["provider_province"] == "北京"
    verified = wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="HY-2026-0928-01")
    assert verified["state"] == "in_review" and verified["review_province"] == "广东" and verified["problems"] == []
    assert verified["truthfulness_check"]["method"] == "当面核验"
    routed = verified["transitions"][-1]
    assert routed["action"] == "auto_check_pass" and routed["role"] == "system"
    assert routed["detail"]["routed"] is True and "routed from 北京" in routed["reason"] and "广东" in routed["reason"]

    with pytest.raises(NotAllowed, match="decided by the 广东 authority"):
        wf.approve(app["id"], BJ_AUTHORITY)  # the provider's province does not decide it
    with pytest.raises(NotAllowed, match="authority's step"):
        wf.approve(app["id"], BJ_PROVIDER)

    done = wf.approve(app["id"], GD_AUTHORITY, note="审核通过")
    number = done["result"]["website_number"]
    assert (number, done["result"]["subject_number"]) == ("粤ICP备2026000001号-1", "粤ICP备2026000001号")
    assert done["state"] == "approved" and done["website_number"] == number
    password = done["password"]
    assert len(password) >= 12
    assert transitions(wf, app["id"]) == [
        (None, "submitted", "submit", "host"), ("submitted", "provider_verified", "provider_verify", "provider"),
        ("provider_verified", "in_review", "auto_check_pass", "system"), ("in_review", "approved", "approve", "authority")]
    history = wf.show(app["id"])["transitions"]
    assert [t["by"] for t in history] == ["王五", "李核验", "provincial automatic check", "粤局审核员"]
    assert all(t["at"] == NOW for t in history) and history[0]["reason"] == "首次备案"

    # the password is stored only as an argon2id hash and never shown again
    with store.sessions() as session:
        stored = session.scalar(select(FilingCredential.password_hash).where(FilingCredential.website_number == number))
        assert stored.startswith("$argon2id$") and verify_password(stored, password)
        rows = [str(tuple(r)) for table in ("filing_applications", "filing_transitions", "filing_credentials")
                for r in session.execute(select(Base.metadata.tables[table]))]
    assert not any(password in r for r in rows)
    assert "password" not in wf.show(app["id"])
    # the real filing rows: lookup finds the site, with its provider
    answer = Registry(store).lookup("https://www.xinhe-tech.cn/")
    assert (answer["filed"], answer["website_number"], answer["subject_name"]) == (True, number, "广州新禾科技有限公司")
    with store.sessions() as session:
        website = session.scalar(select(Website).where(Website.website_number == number))
        assert [a.provider_code for a in website.access_records] == ["P-BJ"]
        assert website.contact_phone_hash and website.contact_phone_enc.startswith("v1:")
    # confidential values are masked in every answer
    text = dumps(wf.show(app["id"]))
    assert "13900001111" not in text and "440101199001011234" not in text and "139****1111" in text


def test_a_local_filing_is_not_routed_and_the_subjects_next_site_takes_the_next_sequence(wf: Workflows) -> None:
    first = approved(wf, provider=GD_PROVIDER)
    pass_step = [t for t in wf.show(first["id"])["transitions"] if t["action"] == "auto_check_pass"][0]
    assert pass_step["detail"]["routed"] is False
    second = approved(wf, {**GOOD, "website_name": "新禾商城", "domains": ["xinhe-shop.cn"]}, provider=GD_PROVIDER)
    assert second["result"]["website_number"] == "粤ICP备2026000001号-2"  # same subject, next site
    other = approved(wf, {**GOOD, "subject_name": "深圳另一有限公司", "subject_certificate": "91440300MA5OTHER12",
                          "domains": ["another-sz.cn"]}, provider=GD_PROVIDER)
    assert other["result"]["subject_number"] == "粤ICP备2026000002号"


def test_the_truthfulness_check_must_be_recorded(wf: Workflows) -> None:
    app = wf.submit_new_filing(GOOD, "P-BJ", HOST)
    with pytest.raises(Incomplete, match="truthfulness check"):
        wf.provider_verify(app["id"], BJ_PROVIDER)
    assert wf.show(app["id"])["state"] == "submitted"


@pytest.mark.parametrize(("changes", "problem"), [
    ({"contact_phone": "", "website_name": ""}, "contact_phone: required"),
    ({"contact_phone": "12ab"}, "contact_phone: not a phone number"),
    ({"subject_type": "合伙"}, "subject_type: subject type must be 单位 or 个人"),
    ({"domains": ["bad..cn"], "ips": ["300.1.1.1"]}, "ips: not an IP address"),
    ({"subject_type": "个人", "subject_certificate": "440101199001011234", "website_name": "中国美食网"},
     "国字号 word '中国'"),
    ({"subject_type": "个人", "subject_certificate": "440101199001011234", "website_name": "杭州美食"},
     "administrative region (浙江省, 杭州市)"),
    ({"subject_type": "个人", "subject_certificate": "91440101MA5CXY1234"}, "subject_certificate: not a resident ID"),
    ({"domains": ["www.taken.cn"]}, "www.taken.cn is already filed by another subject under 京ICP备2021000001号-1"),
    ({"domains": ["shop.evil.cn"]}, "under the blacklisted domain evil.cn (art. 12(9)): 违法网站"),
    ({"subject_name": "黑名单公司"}, "subject_name: the subject is blacklisted"),
    ({"subject_certificate": "91440300MA5FAKE00Z"}, "subject_certificate: the certificate is blacklisted"),
    ({"services": ["新闻"]}, "新闻 needs its pre-approval document before filing (art. 20)"),
    ({"services": ["算命"]}, "unknown service '算命'"),
])
def test_the_automatic_check_returns_the_record_with_its_problems(wf: Workflows, changes: dict[str, Any],
                                                                  problem: str) -> None:
    app = wf.submit_new_filing({**GOOD, **changes}, "P-BJ", HOST)
    back = wf.provider_verify(app["id"], BJ_PROVIDER, method="视频核验", reference="TC-2")
    assert back["state"] == "returned"
    assert any(problem in p for p in back["problems"]), back["problems"]
    last = back["transitions"][-1]
    assert (last["action"], last["role"], last["from"], last["to"]) == ("auto_check_fail", "system", "provider_verified",
                                                                       "returned")
    with pytest.raises(InvalidTransition):
        wf.approve(app["id"], GD_AUTHORITY)


@pytest.mark.parametrize(("name", "regions"), [
    ("杭州美食", ["浙江省", "杭州市"]),
    ("小明的南京之旅", ["江苏省", "南京市"]),
    ("北京路线图", ["北京市"]),  # 路线 is a route, not a road
    ("北京街舞社", ["北京市"]),  # 街舞 is street dance
    ("中山路小吃", []),  # a road named 中山, not 中山市
    ("太原街", []),
    ("南京路步行街", []),
    ("中山路的杭州小吃", ["浙江省", "杭州市"]),  # past the road, the city is still read
    ("张三的博客", []),
])
def test_region_names_are_read_past_streets_named_after_places(name: str, regions: list[str]) -> None:
    assert region_names_in(name) == regions


def test_an_individual_may_name_a_site_after_its_street(wf: Workflows) -> None:
    record = {**GOOD, "subject_type": "个人", "subject_certificate": "440101199001011234", "website_name": "中山路小吃"}
    app = wf.submit_new_filing(record, "P-BJ", HOST)
    back = wf.provider_verify(app["id"], BJ_PROVIDER, method="视频核验", reference="TC-5")
    assert not any("website_name" in p for p in back.get("problems") or []), back.get("problems")


def test_a_returned_filing_is_corrected_resubmitted_and_verified_again(wf: Workflows) -> None:
    app = wf.submit_new_filing({**GOOD, "services": ["新闻"]}, "P-BJ", HOST)
    assert wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="TC-3")["state"] == "returned"
    again = wf.resubmit(app["id"], HOST, {"preapprovals": [{"service": "新闻", "document": "粤新闻许〔2026〕12号"}]})
    assert again["state"] == "submitted" and again["truthfulness_check"] == {"required": True}
    assert wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="TC-4")["state"] == "in_review"
    assert wf.approve(app["id"], GD_AUTHORITY)["state"] == "approved"


def test_returns_by_provider_and_authority_carry_their_reasons(wf: Workflows) -> None:
    app = wf.submit_new_filing(GOOD, "P-BJ", HOST)
    with pytest.raises(Incomplete, match="needs a reason"):
        wf.provider_return(app["id"], BJ_PROVIDER, " ")
    back = wf.provider_return(app["id"], BJ_PROVIDER, "负责人照片与证件不符")
    assert back["state"] == "returned" and back["transitions"][-1]["reason"] == "负责人照片与证件不符"
    wf.resubmit(app["id"], HOST)
    wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="TC-5")
    returned = wf.return_(app["id"], GD_AUTHORITY, "网站名称与主体经营范围不符")
    assert returned["state"] == "returned"
    assert transitions(wf, app["id"])[-1] == ("in_review", "returned", "return", "authority")
    withdrawn = wf.withdraw(app["id"], HOST, "不再开办")
    assert withdrawn["state"] == "withdrawn"
    with pytest.raises(InvalidTransition, match="cannot resubmit from state 'withdrawn'"):
        wf.resubmit(app["id"], HOST)


def test_invalid_transitions_are_refused_naming_the_states_and_change_nothing(wf: Workflows, store: Store) -> None:
    app = wf.submit_new_filing(GOOD, "P-BJ", HOST)
    with pytest.raises(InvalidTransition) as caught:
        wf.approve(app["id"], GD_AUTHORITY)
    assert caught.value.state == "submitted" and caught.value.allowed_from == ("in_review",)
    assert "cannot approve from state 'submitted'; approve is allowed only from in_review" in str(caught.value)
    done = approved(wf)
    for step in (lambda: wf.provider_verify(done["id"], BJ_PROVIDER, method="m", reference="r"),
                 lambda: wf.withdraw(done["id"], HOST, "晚了"), lambda: wf.return_(done["id"], GD_AUTHORITY, "晚了")):
        with pytest.raises(InvalidTransition, match="from state 'approved'"):
            step()
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Transition)
                              .where(Transition.application_id == app["id"])) == 1
    with pytest.raises(NotAllowed, match="step of provider P-BJ"):
        wf.provider_verify(app["id"], SH_PROVIDER, method="m", reference="r")
    with pytest.raises(InvalidRecord, match="unknown field"):
        wf.submit_new_filing({**GOOD, "favourite_colour": "red"}, "P-BJ", HOST)


def test_a_suspended_providers_submissions_are_refused_with_the_reason(wf: Workflows, store: Store) -> None:
    pending = wf.submit_new_filing(GOOD, "P-BJ", HOST)
    ledger = Ledger(store)
    for i in range(16):  # 80 points (art. 43(3))
        ledger.record_finding(finding_ref=f"finding:suspend-{i}", object_kind="provider", object_code="P-BJ", points=5,
                              article="41", code="UNFILED_SITE", observed_at=NOW - timedelta(days=30),
                              recorded_by="analyst")
    assert ledger.interface_state("P-BJ") == "suspended"
    with pytest.raises(InterfaceSuspended, match=r"P-BJ: its filing interface is suspended .*80 points"):
        wf.submit_new_filing(GOOD, "P-BJ", HOST)
    with pytest.raises(InterfaceSuspended):
        wf.provider_verify(pending["id"], BJ_PROVIDER, method="当面核验", reference="TC-6")
    with pytest.raises(InterfaceSuspended):
        wf.submit_cancellation(OLD_NUMBER, BJ_PROVIDER, "P-BJ", reason="客户停止服务")
    assert wf.show(pending["id"])["state"] == "submitted"
    assert wf.submit_new_filing(GOOD, "P-GD", HOST)["state"] == "submitted"  # other providers are unaffected
    # the ledger dates the suspension by the day in China; the training passed that day
    ledger.record_training(provider_code="P-BJ", passed_on=china_date(datetime.now(timezone.utc)),
                           recorded_by="备案中心", reference="培训-7")
    assert wf.provider_verify(pending["id"], BJ_PROVIDER, method="当面核验", reference="TC-6")["state"] == "in_review"


# -- added access (art. 18(5)) -------------------------------------------------------------------------------

def test_a_later_provider_adds_access_with_the_number_and_password(wf: Workflows, store: Store) -> None:
    done = approved(wf)
    number, password = done["result"]["website_number"], done["password"]
    with pytest.raises(PasswordRejected, match="not its password"):
        wf.submit_add_access(number, "P-SH", "wrong-password", SH_PROVIDER)
    with pytest.raises(NotAllowed, match="already has an access record"):
        wf.submit_add_access(number, "P-BJ", password, BJ_PROVIDER)
    app = wf.submit_add_access(number, "P-SH", password, SH_PROVIDER, ips=["203.0.113.80"])
    verified = wf.provider_verify(app["id"], SH_PROVIDER, method="视频核验", reference="SH-1")
    assert verified["state"] == "in_review" and verified["review_province"] == "广东"
    assert wf.approve(app["id"], GD_AUTHORITY)["result"]["access_records"] == 2
    with store.sessions() as session:
        codes = session.scalars(select(AccessRecord.provider_code).join(Website, Website.id == AccessRecord.website_id)
                                .where(Website.website_number == number).order_by(AccessRecord.provider_code)).all()
    assert codes == ["P-BJ", "P-SH"]
    # an imported filing has no password on record: the password reset comes first
    with pytest.raises(PasswordRejected, match="no filing password on record"):
        wf.submit_add_access(OLD_NUMBER, "P-SH", "anything", SH_PROVIDER)


# -- change (art. 19) --------------------------------------------------------------------------------------

def test_changes_are_reverified_reviewed_and_applied(wf: Workflows, store: Store) -> None:
    done = approved(wf)
    number = done["result"]["website_number"]
    with pytest.raises(Incomplete, match="subject_province cannot change"):
        wf.submit_change(number, {"subject_province": "北京"}, "P-BJ", HOST)
    with pytest.raises(NotAllowed, match="by the site's provider"):
        wf.submit_change(number, {"remove_access": ["P-BJ"]}, "P-BJ", HOST)
    with pytest.raises(NotAllowed, match="does not serve"):
        wf.submit_change(number, {"website_name": "新名"}, "P-SH", HOST)

    # a new responsible person: a new truthfulness check (art. 19(2))
    person = wf.submit_change(number, {"contact_name": "孙七", "contact_phone": "13700002222"}, "P-BJ", HOST)
    assert person["truthfulness_check"] == {"required": True}
    with pytest.raises(Incomplete, match="truthfulness check"):
        wf.provider_verify(person["id"], BJ_PROVIDER)
    wf.provider_verify(person["id"], BJ_PROVIDER, method="当面核验", reference="CH-1")
    assert wf.approve(person["id"], GD_AUTHORITY)["state"] == "approved"

    # a new name only: verified without a new truthfulness check
    name = wf.submit_change(number, {"website_name": "新禾云"}, "P-BJ", HOST)
    assert name["truthfulness_check"] == {"required": False}
    wf.provider_verify(name["id"], BJ_PROVIDER)
    wf.approve(name["id"], GD_AUTHORITY)
    # a domain another subject holds: returned by the automatic check
    clash = wf.submit_change(number, {"domains": ["xinhe-tech.cn", "taken.cn"]}, "P-BJ", HOST)
    assert wf.provider_verify(clash["id"], BJ_PROVIDER, method="当面核验", reference="CH-2")["state"] == "returned"
    answer = Registry(store).lookup("xinhe-tech.cn")
    assert answer["website_name"] == "新禾云"
    with store.sessions() as session:
        website = session.scalar(select(Website).where(Website.website_number == number))
        assert website.contact_name == "孙七"
        assert website.contact_phone_hash == protector().keyed_hash("contact_phone", "13700002222")


def test_a_filing_left_without_access_is_cancelled_by_the_authority(wf: Workflows, store: Store) -> None:
    done = approved(wf)
    number = done["result"]["website_number"]
    app = wf.submit_change(number, {"remove_access": ["P-BJ"]}, "P-BJ", BJ_PROVIDER, note="客户迁出")
    wf.provider_verify(app["id"], BJ_PROVIDER)
    result = wf.approve(app["id"], GD_AUTHORITY)["result"]
    cancellation = wf.show(result["cancelled_by_authority"])
    assert cancellation["kind"] == "cancellation" and cancellation["state"] == "cancelled"
    last = cancellation["transitions"][-1]
    assert (last["action"], last["role"], last["by"]) == ("authority_cancel", "authority", "粤局审核员")
    assert "art. 19(4)" in last["reason"] and cancellation["result"]["stop_access"] == ["P-BJ"]
    assert Registry(store).lookup("xinhe-tech.cn")["status"] == "cancelled"


# -- cancellation (art. 22) ----------------------------------------------------------------------------

def test_cancellation_by_the_host_with_its_password(wf: Workflows, store: Store) -> None:
    done = approved(wf)
    number, password = done["result"]["website_number"], done["password"]
    with pytest.raises(PasswordRejected):
        wf.submit_cancellation(number, HOST, "P-BJ", reason="停止服务", password="nope")
    with pytest.raises(NotAllowed, match="does not serve"):
        wf.submit_cancellation(number, HOST, "P-SH", reason="停止服务", password=password)
    app = wf.submit_cancellation(number, HOST, "P-BJ", reason="停止服务", password=password)
    assert app["state"] == "submitted" and app["review_province"] == "广东"
    assert wf.provider_forward(app["id"], BJ_PROVIDER)["state"] == "in_review"
    with pytest.raises(NotAllowed, match="decided by the 广东 authority"):
        wf.approve(app["id"], BJ_AUTHORITY)
    result = wf.approve(app["id"], GD_AUTHORITY)
    assert result["state"] == "cancelled" and result["result"]["stop_access"] == ["P-BJ"]
    assert Registry(store).lookup("xinhe-tech.cn")["status"] == "cancelled"
    with pytest.raises(NotAllowed, match="is cancelled"):
        wf.submit_cancellation(number, HOST, "P-BJ", reason="again", password=password)


def test_cancellation_by_the_provider_goes_straight_to_the_subjects_province(wf: Workflows) -> None:
    app = wf.submit_cancellation(OLD_NUMBER, BJ_PROVIDER, "P-BJ", reason="合同到期")
    assert app["state"] == "in_review" and [t["action"] for t in app["transitions"]] == ["submit", "provider_forward"]
    assert wf.return_(app["id"], BJ_AUTHORITY, "主办者仍在使用，需其确认")["state"] == "returned"


def test_cancellation_by_the_authority(wf: Workflows, store: Store) -> None:
    with pytest.raises(NotAllowed, match="decided by the 北京 authority"):
        wf.cancel_by_authority(OLD_NUMBER, GD_AUTHORITY, reason="违法违规")
    with pytest.raises(Incomplete, match="needs a reason"):
        wf.cancel_by_authority(OLD_NUMBER, BJ_AUTHORITY, reason="")
    done = wf.cancel_by_authority(OLD_NUMBER, BJ_AUTHORITY, reason="工信部通报：传播违法信息")
    assert done["state"] == "cancelled" and done["result"]["stop_access"] == ["P-BJ"]
    assert Registry(store).lookup("taken.cn")["status"] == "cancelled"
    # a cancelled filing's domain may be filed again by another subject
    app = wf.submit_new_filing({**GOOD, "domains": ["taken.cn"]}, "P-BJ", HOST)
    assert wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="X")["state"] == "in_review"


# -- licence conversion (art. 21) ----------------------------------------------------------------------

def test_licence_conversion_puts_the_licence_on_the_subjects_sites(wf: Workflows, store: Store) -> None:
    with pytest.raises(Incomplete, match="a 广东 licence; the subject is registered in 北京"):
        wf.submit_licence_conversion(OLD_NUMBER, "粤ICP证030173号", HOST)
    with pytest.raises(Incomplete, match="not an operating licence"):
        wf.submit_licence_conversion(OLD_NUMBER, "京ICP备2021000001号", HOST)
    app = wf.submit_licence_conversion(OLD_NUMBER, "京ICP证030173号", HOST)
    assert app["state"] == "in_review" and app["review_province"] == "北京"
    done = wf.approve(app["id"], BJ_AUTHORITY)
    assert done["result"] == {"licence_number": "京ICP证030173号",
                              "websites": ["京ICP备2021000001号-1", "京ICP备2021000001号-2"]}
    with store.sessions() as session:
        assert set(session.scalars(select(Website.licence_number))) == {"京ICP证030173号"}


# -- password reset (annex 1) ------------------------------------------------------------------------------

def test_password_reset_checked_reported_and_reset_within_ten_working_days(wf: Workflows, store: Store,
                                                                           clock: Clock) -> None:
    with pytest.raises(Incomplete, match="contact_id"):
        wf.submit_password_reset(OLD_NUMBER, "P-BJ", {"subject_certificate": "91110105MA01ABCD2X",
                                                      "contact_phone": "13812345678"}, HOST)
    app = wf.submit_password_reset(OLD_NUMBER, "P-BJ", {**OLD_MATERIALS, "contact_phone": "13800000000"}, HOST)
    back = wf.provider_check(app["id"], BJ_PROVIDER)
    assert back["state"] == "returned" and back["problems"] == ["contact_phone: does not match the filing"]
    wf.resubmit(app["id"], HOST, {"contact_phone": "138 1234 5678"})  # spelt differently, the same number
    reported = wf.provider_check(app["id"], BJ_PROVIDER)
    assert reported["state"] == "reported" and reported["review_province"] == "北京"
    assert reported["due"] == date(2026, 10, 16) and reported["due_estimated"] is False  # across National Day
    assert reported["due"] == add_working_days(date(2026, 9, 28), 10).due
    assert wf.list(overdue=True) == []
    clock.now = datetime(2026, 10, 19, 2, 0, tzinfo=timezone.utc)
    assert [a["id"] for a in wf.list(overdue=True)] == [app["id"]]
    with pytest.raises(NotAllowed):
        wf.reset_password(app["id"], GD_AUTHORITY)
    done = wf.reset_password(app["id"], BJ_AUTHORITY)
    assert done["state"] == "reset" and done["result"]["within_deadline"] is False
    with store.sessions() as session:
        stored = session.scalar(select(FilingCredential.password_hash)
                                .where(FilingCredential.website_number == OLD_NUMBER))
    assert verify_password(stored, done["password"])
    # with the new password the host can now authorise an added access
    assert wf.submit_add_access(OLD_NUMBER, "P-SH", done["password"], SH_PROVIDER)["state"] == "submitted"
    assert "13812345678" not in dumps(wf.show(app["id"]))


def test_a_reset_deadline_running_into_an_unloaded_year_is_estimated(wf: Workflows, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 24, 2, 0, tzinfo=timezone.utc)
    app = wf.submit_password_reset(OLD_NUMBER, "P-BJ", OLD_MATERIALS, HOST)
    reported = wf.provider_check(app["id"], BJ_PROVIDER)
    assert reported["due"] == date(2027, 1, 7) and reported["due_estimated"] is True
    refused = wf.refuse_reset(app["id"], BJ_AUTHORITY, "申请文件未加盖公章")
    assert refused["state"] == "returned"


# -- concurrency ---------------------------------------------------------------------------------------------

def test_concurrent_approvals_issue_distinct_numbers_and_approve_once(wf: Workflows, store: Store) -> None:
    apps = []
    for i in range(4):
        record = {**GOOD, "subject_name": f"广州并发{i}有限公司", "subject_certificate": f"91440101MA5CON00{i}X",
                  "domains": [f"concurrent-{i}.cn"]}
        app = wf.submit_new_filing(record, "P-GD", HOST)
        wf.provider_verify(app["id"], GD_PROVIDER, method="当面核验", reference=f"C-{i}")
        apps.append(app["id"])
    outcomes: list[Any] = []

    def approve(application_id: int) -> None:
        try:
            outcomes.append(Workflows(store, protector(), clock=lambda: NOW).approve(application_id, GD_AUTHORITY))
        except (InvalidTransition, Concurrent) as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=approve, args=(a,)) for a in apps + [apps[0]]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if not isinstance(o, dict)]
    assert len(answers) == 4 and len(refused) == 1  # the doubled approval of apps[0] happens once
    numbers = sorted(a["result"]["subject_number"] for a in answers)
    assert numbers == [f"粤ICP备2026{n:06d}号" for n in range(1, 5)]
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Application).where(Application.state == "approved")) == 4
        assert session.scalar(select(func.count()).select_from(Website)) == 6  # 2 imported + 4 approved


def test_a_failed_approval_changes_nothing(wf: Workflows, store: Store) -> None:
    app = wf.submit_new_filing({**GOOD, "domains": ["late-clash.cn"]}, "P-BJ", HOST)
    wf.provider_verify(app["id"], BJ_PROVIDER, method="当面核验", reference="L-1")
    # meanwhile another subject's filing of the same domain is approved
    approved(wf, {**GOOD, "subject_name": "另一公司", "subject_certificate": "91440101MA5OTHER9X",
                  "domains": ["late-clash.cn"]})
    with pytest.raises(CheckFailed, match="already filed by another subject"):
        wf.approve(app["id"], GD_AUTHORITY)
    assert wf.show(app["id"])["state"] == "in_review"
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Website)) == 3


def test_one_order_per_finding_however_many_writers(store: Store) -> None:
    from registry.workflows.orders import OrderError, Orders

    results: list[tuple[Any, bool]] = []

    def open_it() -> None:
        results.append(Orders(store).open(finding_ref="finding:abc", finding_code="UNFILED_SITE", provider_code="P-BJ",
                                          target="x.cn", opened_by="张工", opened_at=NOW))

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and sum(created for _, created in results) == 1
    assert len({order.id for order, _ in results}) == 1
    (order,) = Orders(store).open_orders("P-BJ")
    # 5 working days from Monday 28 September: 29, 30 September, 8, 9 and (a worked Saturday) 10 October
    assert (order.kind, order.due, order.estimated) == ("stop_access", date(2026, 10, 10), False)
    with pytest.raises(OrderError, match="opens no order"):
        Orders(store).open(finding_ref="finding:def", finding_code="LINK_MISSING", provider_code=None, target="y.cn",
                           opened_by="张工")
    closed = Orders(store).close("finding:abc", reason="站点已停止接入", closed_by="sweep 9")
    assert closed is not None and closed.state == "closed"
    assert Orders(store).close("finding:abc", reason="again", closed_by="sweep 10") is None
    assert Orders(store).open_orders() == []
