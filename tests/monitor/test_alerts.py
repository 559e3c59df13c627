"""Alerts: payload shapes per robot, and delivery to a real receiver on loopback with retries."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from icpwatch.dbkit import create_engine_for
from monitor.alerts import (TEXT_LIMITS, AlertError, AlertTarget, dispatch, mask_url, message_text, parse_alert,
                            payload)
from monitor.models import AlertDelivery, Sweep
from monitor.store import MonitorStore

SUMMARY = {"sweep_id": 7, "counts": {"targets": 120, "findings": 3, "unknown": 2}, "schedule": "nightly"}
FINDINGS = [
    {"id": 1, "code": "UNFILED_SITE", "target": "shop.example.cn", "domain": "shop.example.cn", "redirect_to": None,
     "ip": "127.0.0.10", "provider": "P001", "party_kind": "provider", "article": "12(2)", "points": 5,
     "status": "suspected", "new": True},
    {"id": 2, "code": "UNFILED_REDIRECT", "target": "go.example.cn", "domain": "go.example.cn",
     "redirect_to": "https://unfiled.example.com/", "ip": "127.0.0.11", "provider": None, "party_kind": "registrar",
     "article": "16(5)", "points": 5, "status": "suspected", "new": True},
    {"id": 3, "code": "NUMBER_MISPLACED", "target": "a.example.cn", "domain": "a.example.cn", "redirect_to": None,
     "ip": "127.0.0.12", "provider": "P002", "party_kind": "host", "article": "14(3)", "points": 0,
     "status": "suspected", "new": True},
]


# --- a receiver on loopback ------------------------------------------------------------------

@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 answering each path from a script: (status, body, headers)…;
    the last answer repeats. ``hang`` paths never answer."""

    base: str = ""
    scripts: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    seen: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)

    def script(self, path: str, *answers: tuple[int, str] | tuple[int, str, dict[str, str]]) -> str:
        self.scripts[path] = [(a[0], a[1], a[2] if len(a) > 2 else {}) for a in answers]  # type: ignore[misc]
        return self.base + path

    def hits(self, path: str) -> list[tuple[float, str, dict[str, Any]]]:
        return [s for s in self.seen if s[1].split("?")[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else {}
        state.seen.append((time.monotonic(), request.path_qs, body))
        if request.path in state.hang:
            await asyncio.sleep(3600)
        answers = state.scripts.get(request.path, [(200, "{}", {})])
        status, text, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, text=text, headers=headers, content_type="application/json")

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.base = "http://127.0.0.1:%d" % runner.addresses[0][1]
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        holder["runner"] = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    holder: dict[str, web.AppRunner] = {}
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def engine(sqlite_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine_for(sqlite_url)
    store = MonitorStore(engine)
    with store.session() as s:
        s.add(Sweep(id=7, scope_key="test", status="finished"))
    yield engine
    engine.dispose()


def deliveries(engine) -> list[AlertDelivery]:  # type: ignore[no-untyped-def]
    with MonitorStore(engine, migrate=False).session() as s:
        return list(s.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


# --- parsing and masking ---------------------------------------------------------------------

def test_parse_alert_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_alert("dingtalk=https://oapi.dingtalk.com/robot/send?access_token=abc") == AlertTarget(
        "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=abc")
    assert parse_alert("https://hooks.example.org/in").channel == "webhook"
    assert parse_alert("webhook=http://127.0.0.1:9/x").url == "http://127.0.0.1:9/x"
    assert parse_alert("WeCom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k").channel == "wecom"
    signed = parse_alert("feishu=https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c#secret=S3cr3t")
    assert (signed.url, signed.secret) == ("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c", "S3cr3t")
    monkeypatch.setenv("ICPWATCH_TEST_DING", "https://oapi.dingtalk.com/robot/send?access_token=zz#secret=SEC1")
    from_env = parse_alert("dingtalk=env:ICPWATCH_TEST_DING")
    assert (from_env.channel, from_env.secret) == ("dingtalk", "SEC1")
    monkeypatch.setenv("ICPWATCH_TEST_ANY", "wecom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    assert parse_alert("env:ICPWATCH_TEST_ANY").channel == "wecom"
    for bad in ("dingtalk=", "slack=https://x", "ftp://example.org/x", "env:ICPWATCH_TEST_UNSET", "nonsense"):
        with pytest.raises(AlertError):
            parse_alert(bad)


def test_secrets_are_masked() -> None:
    assert mask_url("https://oapi.dingtalk.com/robot/send?access_token=abc123") == \
        "https://oapi.dingtalk.com/robot/send?access_token=***"
    assert mask_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx") == \
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    assert mask_url("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-aaaa") == \
        "https://open.feishu.cn/open-apis/bot/v2/hook/***"
    assert mask_url("https://user:pw@hooks.example.org/services/T0001/B0002/XXXXXXXXXXXXXXXX1234?x=1") == \
        "https://user:***@hooks.example.org/services/T0001/B0002/***?x=1"
    assert "SEC" not in mask_url("https://oapi.dingtalk.com/robot/send?access_token=a#secret=SEC")


# --- payload shapes --------------------------------------------------------------------------

def test_payload_shapes_per_channel() -> None:
    ding = payload(parse_alert("dingtalk=https://oapi.dingtalk.com/robot/send?access_token=t"), SUMMARY, FINDINGS)
    assert ding["msgtype"] == "markdown" and set(ding["markdown"]) == {"title", "text"}
    assert "UNFILED_SITE" in ding["markdown"]["text"] and "3 条新发现" in ding["markdown"]["title"]
    assert "→ https://unfiled.example.com/" in ding["markdown"]["text"]
    wecom = payload(parse_alert("wecom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), SUMMARY, FINDINGS)
    assert wecom["msgtype"] == "markdown" and set(wecom["markdown"]) == {"content"}
    feishu = payload(parse_alert("feishu=https://open.feishu.cn/open-apis/bot/v2/hook/x"), SUMMARY, FINDINGS)
    assert feishu["msg_type"] == "interactive"
    assert feishu["card"]["header"]["title"]["tag"] == "plain_text"
    assert feishu["card"]["elements"][0]["text"]["tag"] == "lark_md"
    assert "NUMBER_MISPLACED" in feishu["card"]["elements"][0]["text"]["content"]
    plain = payload(parse_alert("http://127.0.0.1:9/hook"), SUMMARY, FINDINGS)
    assert plain["sweep_id"] == 7 and plain["new_findings"] == FINDINGS and plain["new_count"] == 3
    assert plain["summary"]["counts"] == SUMMARY["counts"]
    json.dumps(plain)


def test_messages_are_capped_to_the_robots_limits() -> None:
    many = [dict(FINDINGS[0], id=i, domain=f"站点{i:05d}.example.cn" + "长" * 300) for i in range(500)]
    wecom = payload(AlertTarget("wecom", "https://q.example/x?key=k"), SUMMARY, many)
    assert len(wecom["markdown"]["content"].encode()) <= 4096
    assert "另有" in wecom["markdown"]["content"] and "另有 480 条" in message_text(SUMMARY, many)
    ding = payload(AlertTarget("dingtalk", "https://d.example/x?access_token=t"), SUMMARY, many)
    assert len(ding["markdown"]["text"].encode()) <= TEXT_LIMITS["dingtalk"]
    feishu = payload(AlertTarget("feishu", "https://f.example/hook/x"), SUMMARY, many)
    assert len(json.dumps(feishu, ensure_ascii=False).encode()) < 20_000
    assert "另有 4" in ding["markdown"]["text"]


# --- delivery --------------------------------------------------------------------------------

def test_delivery_to_a_loopback_receiver_is_recorded_with_the_token_masked(receiver: Receiver, store_url: str) -> None:
    engine = create_engine_for(store_url)
    try:
        with MonitorStore(engine).session() as s:
            s.add(Sweep(id=7, scope_key="test", status="finished"))
        ding = receiver.script("/robot/send", (200, '{"errcode":0,"errmsg":"ok"}'))
        hook = receiver.script("/hook", (204, ""))
        targets = [parse_alert(f"dingtalk={ding}?access_token=TOPSECRET"), parse_alert(hook)]
        thread = dispatch(engine, 7, SUMMARY, FINDINGS, targets, attempts=2, backoff=0.05)
        thread.join(15)
        assert not thread.is_alive()
        rows = sorted(deliveries(engine), key=lambda r: r.channel)  # targets are sent concurrently
        assert [(r.channel, r.status, r.attempts) for r in rows] == [("dingtalk", "delivered", 1),
                                                                      ("webhook", "delivered", 1)]
        assert rows[0].endpoint.endswith("/robot/send?access_token=***")
        assert all("TOPSECRET" not in r.endpoint for r in rows) and rows[0].delivered_at is not None
        (_, path, body), = receiver.hits("/robot/send")
        assert "access_token=TOPSECRET" in path and body["msgtype"] == "markdown"
        (_, _, plain), = receiver.hits("/hook")
        assert plain["new_count"] == 3
    finally:
        engine.dispose()


def test_retry_with_back_off_on_500_then_success(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    url = receiver.script("/flaky", (500, "boom"), (502, "bad gateway"), (200, "{}"))
    dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(url)], attempts=5, backoff=0.2).join(15)
    times = [t for t, _, _ in receiver.hits("/flaky")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.18 and times[2] - times[1] >= 0.38  # 0.2 s, then 0.4 s
    (row,) = deliveries(engine)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)


def test_429_honours_retry_after(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    url = receiver.script("/limited", (429, "slow down", {"Retry-After": "1"}), (200, "{}"))
    dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(url)], attempts=3, backoff=0.01).join(15)
    times = [t for t, _, _ in receiver.hits("/limited")]
    assert len(times) == 2 and times[1] - times[0] >= 0.95
    assert deliveries(engine)[0].status == "delivered"


def test_robot_rate_limit_code_is_retried_other_codes_are_not(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    busy = receiver.script("/cgi-bin/webhook/send", (200, '{"errcode":45009,"errmsg":"api freq out of limit"}'),
                           (200, '{"errcode":0,"errmsg":"ok"}'))
    bad = receiver.script("/robot/send", (200, '{"errcode":310000,"errmsg":"sign not match"}'))
    dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(f"wecom={busy}?key=K"), parse_alert(f"dingtalk={bad}?access_token=T")],
             attempts=4, backoff=0.05).join(15)
    rows = {r.channel: r for r in deliveries(engine)}
    assert (rows["wecom"].status, rows["wecom"].attempts) == ("delivered", 2)
    assert (rows["dingtalk"].status, rows["dingtalk"].attempts) == ("failed", 1)
    assert "310000" in (rows["dingtalk"].last_error or "")


def test_no_retry_on_400(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    url = receiver.script("/bad", (400, "bad request"), (200, "{}"))
    dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(url)], attempts=5, backoff=0.01).join(15)
    assert len(receiver.hits("/bad")) == 1
    (row,) = deliveries(engine)
    assert (row.status, row.attempts) == ("failed", 1) and "HTTP 400" in (row.last_error or "")


def test_connection_refused_is_retried_then_failed(engine) -> None:  # type: ignore[no-untyped-def]
    import socket
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(f"http://127.0.0.1:{port}/x?token=abc")],
             attempts=3, backoff=0.01).join(15)
    (row,) = deliveries(engine)
    assert (row.status, row.attempts) == ("failed", 3) and row.endpoint.endswith("/x?token=***")
    assert "abc" not in (row.last_error or "")


def test_dispatch_never_blocks_even_when_the_receiver_hangs(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    receiver.hang.add("/hang")
    url = receiver.script("/hang", (200, "{}"))
    start = time.perf_counter()
    thread = dispatch(engine, 7, SUMMARY, FINDINGS, [parse_alert(url)] * 3, attempts=2, backoff=0.01, timeout=0.5)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.05, elapsed
    assert thread.daemon and thread.is_alive()
    thread.join(15)
    rows = deliveries(engine)
    assert [(r.status, r.attempts) for r in rows] == [("failed", 2)] * 3
    assert all("Timeout" in (r.last_error or "") for r in rows)


def test_dispatch_never_raises_into_the_sweep(engine) -> None:  # type: ignore[no-untyped-def]
    # sweep 999 does not exist: the row cannot be written, the thread logs and ends
    thread = dispatch(engine, 999, SUMMARY, FINDINGS, [AlertTarget("webhook", "http://127.0.0.1:9/x")], attempts=1)
    thread.join(10)
    assert not thread.is_alive()
    assert dispatch(engine, 7, SUMMARY, [], []).join(5) is None


def test_signed_robots_carry_a_valid_signature(receiver: Receiver, engine) -> None:  # type: ignore[no-untyped-def]
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs, urlsplit

    ding = receiver.script("/robot/send", (200, '{"errcode":0}'))
    feishu = receiver.script("/open-apis/bot/v2/hook/abcdef", (200, '{"code":0,"msg":"success"}'))
    targets = [parse_alert(f"dingtalk={ding}?access_token=T#secret=SECding"),
               parse_alert(f"feishu={feishu}#secret=SECfeishu")]
    dispatch(engine, 7, SUMMARY, FINDINGS, targets, attempts=1).join(15)
    (_, path, _), = receiver.hits("/robot/send")
    query = parse_qs(urlsplit(path).query)
    ts = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SECding", f"{ts}\nSECding".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected] and query["access_token"] == ["T"]
    (_, _, body), = receiver.hits("/open-apis/bot/v2/hook/abcdef")
    expected = base64.b64encode(hmac.new(f"{body['timestamp']}\nSECfeishu".encode(), b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected and body["msg_type"] == "interactive"
    rows = sorted(deliveries(engine), key=lambda r: r.channel)
    assert [(r.channel, r.status) for r in rows] == [("dingtalk", "delivered"), ("feishu", "delivered")]
    assert rows[1].endpoint.endswith("/open-apis/bot/v2/hook/***") and all("SEC" not in r.endpoint for r in rows)


# --- sending a sweep's alert again -----------------------------------------------------------

def _finished_sweep_with_findings(engine) -> None:  # type: ignore[no-untyped-def]
    from monitor.models import Finding

    with MonitorStore(engine, migrate=False).session() as s:
        sweep = s.get(Sweep, 7)
        sweep.counts = {"summary": {"targets": 120, "findings": 3, "new": 2}}
        s.add(Sweep(id=8, scope_key="test", status="finished", counts={"summary": {"targets": 120}}))
        s.flush()
        for i, (code, domain, first) in enumerate([("UNFILED_SITE", "shop.example.cn", 7),
                                                   ("UNFILED_REDIRECT", "go.example.cn", 7),
                                                   ("UNFILED_SITE", "old.example.cn", 8)]):
            s.add(Finding(fingerprint=f"f{i}", code=code, article="12(2)", target=domain, domain=domain,
                          ip="127.0.0.10", party_kind="provider", party="P001", points=5,
                          first_sweep_id=first, last_sweep_id=8))
        # what a sweep killed while sending leaves behind
        s.add(AlertDelivery(sweep_id=7, channel="webhook", endpoint="PLACEHOLDER", status="pending", attempts=1))


def _cli(*args: str) -> Any:
    from click.testing import CliRunner

    from icpwatch.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_resend_rebuilds_the_alert_and_abandons_what_a_dead_sender_left(receiver: Receiver, engine,  # type: ignore[no-untyped-def]
                                                                       sqlite_url: str) -> None:
    _finished_sweep_with_findings(engine)
    url = receiver.script("/notify", (204, ""))
    with MonitorStore(engine, migrate=False).session() as s:  # the dead sender's row names this receiver
        s.scalars(select(AlertDelivery)).one().endpoint = parse_alert(url + "?token=SECRET").endpoint
    result = _cli("alerts", "resend", "7", "--alert", url + "?token=SECRET", "--db", sqlite_url, "--json")
    assert result.exit_code == 0, result.output
    (sent,) = json.loads(result.stdout)["deliveries"]
    assert (sent["status"], sent["attempts"]) == ("delivered", 1) and sent["endpoint"].endswith("/notify?token=***")
    (_, path, body), = receiver.hits("/notify")
    assert "token=SECRET" in path and body["sweep_id"] == 7 and body["new_count"] == 2
    assert {f["domain"] for f in body["new_findings"]} == {"shop.example.cn", "go.example.cn"}  # first seen in 7
    assert body["summary"]["targets"] == 120
    rows = json.loads(_cli("alerts", "list", "--sweep", "7", "--db", sqlite_url, "--json").stdout)["deliveries"]
    assert [r["status"] for r in rows] == ["abandoned", "delivered"]
    assert "SECRET" not in json.dumps(rows)


def test_resend_says_when_a_receiver_still_refuses(receiver: Receiver, engine, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    _finished_sweep_with_findings(engine)
    url = receiver.script("/bad", (400, "bad request"))
    result = _cli("alerts", "resend", "8", "--alert", url, "--db", sqlite_url, "--json")
    assert result.exit_code == 1 and "not every receiver" in result.stderr
    (row,) = json.loads(result.stdout)["deliveries"]
    assert row["status"] == "failed" and "HTTP 400" in row["last_error"]
    (_, _, body), = receiver.hits("/bad")
    assert body["new_count"] == 1 and body["new_findings"][0]["domain"] == "old.example.cn"
    # the other sweep's pending row is not this resend's business
    assert [r.status for r in deliveries(engine) if r.sweep_id == 7] == ["pending"]


def test_resend_skips_the_receivers_already_reached_and_tells_robots_apart(receiver: Receiver, engine,  # type: ignore[no-untyped-def]
                                                                          sqlite_url: str) -> None:
    """Two DingTalk robots mask alike (access_token=***); the stored keyed hash tells them apart,
    so a resend to both reaches the one the sweep missed and not again the one it reached."""
    _finished_sweep_with_findings(engine)
    reached = "dingtalk=" + receiver.script("/robot/send", (200, '{"errcode":0}')) + "?access_token=" + "a1" * 32
    missed = reached.replace("a1" * 32, "b2" * 32)
    assert parse_alert(reached).endpoint == parse_alert(missed).endpoint
    first = _cli("alerts", "resend", "7", "--alert", reached, "--db", sqlite_url, "--json")
    assert first.exit_code == 0, first.output
    (earlier,) = json.loads(first.stdout)["deliveries"]

    both = _cli("alerts", "resend", "7", "--alert", reached, "--alert", missed, "--db", sqlite_url, "--json")
    assert both.exit_code == 0, both.output
    done = json.loads(both.stdout)
    assert [r["id"] for r in done["already_delivered"]] == [earlier["id"]]
    assert [r["status"] for r in done["deliveries"]] == ["delivered"]
    tokens = [path.split("access_token=")[1][:2] for _, path, _ in receiver.hits("/robot/send")]
    assert tokens == ["a1", "b2"]  # the reached robot once, the missed one now

    text = _cli("alerts", "resend", "7", "--alert", reached, "--db", sqlite_url)
    assert text.exit_code == 0 and f"delivery #{earlier['id']} already reached dingtalk" in text.stderr
    again = _cli("alerts", "resend", "7", "--alert", reached, "--again", "--db", sqlite_url, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["already_delivered"] == []
    assert len(receiver.hits("/robot/send")) == 3
    stored = [r.receiver for r in deliveries(engine) if r.channel == "dingtalk"]
    assert len(stored) == 3 and stored[0] == stored[2] != stored[1]
    assert all(len(r) == 64 and "a1a1" not in r and "b2b2" not in r for r in stored)  # a keyed hash, no token


def test_resend_of_a_sweep_that_sent_nothing_is_a_clear_error(engine, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    missing = _cli("alerts", "resend", "99", "--alert", "http://127.0.0.1:9/x", "--db", sqlite_url)
    assert missing.exit_code == 1 and "no sweep 99" in missing.stderr
    unfinished = _cli("alerts", "resend", "7", "--alert", "http://127.0.0.1:9/x", "--db", sqlite_url)  # no summary
    assert unfinished.exit_code == 1 and "only a finished sweep" in unfinished.stderr
    bad = _cli("alerts", "resend", "7", "--alert", "ftp://x", "--db", sqlite_url)
    assert bad.exit_code == 2
