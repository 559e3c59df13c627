"""Alerts for a sweep's new findings: a plain JSON webhook, or a DingTalk, WeCom or Feishu group robot.

``icpwatch sweep --alert VALUE`` names where; :func:`parse_alert` reads VALUE, :func:`payload`
builds the body each receiver accepts, and :func:`dispatch` sends them all on a background thread
so that a slow or dead receiver never holds up (or breaks) the sweep.

Delivery rules (why they are what they are):

* **Retried** with exponential back-off (``backoff × 2^(n-1)`` seconds, capped) on connection
  errors, time-outs, HTTP 5xx and 429 — and on the robots' own rate-limit answers, which come as
  HTTP 200 (DingTalk errcode 130101, WeCom 45009) or 400 (Feishu 11232) with a code in the body.
  ``Retry-After`` (seconds or an HTTP date) is honoured. DingTalk and WeCom accept 20 messages a
  minute per robot, so a burst of sweeps does run into this.
* **Not retried** on any other 4xx or any other error code in the body: the request itself is
  wrong (a revoked token, a failed signature or keyword check) and will not get better.
* **Recorded**: one ``alert_deliveries`` row per target, with its attempts, last error and time of
  delivery. The endpoint is stored and logged with its secrets masked (``access_token=***``,
  ``key=***``, the Feishu hook id, any password), never in clear; beside it, a keyed hash of the
  receiver under the data-protection key, so a resend can tell which receivers were served.
* **Message size**: the robots refuse long messages — WeCom markdown ``content`` at 4096 bytes,
  DingTalk and Feishu bodies at about 20 KB — so the text lists the first findings and says how
  many more there are, and is cut on a UTF-8 boundary below each limit.

Secrets: a robot with signing turned on (加签 / 签名校验) takes its secret after ``#secret=`` in the
value (``dingtalk=https://oapi.dingtalk.com/robot/send?access_token=T#secret=SEC…``); a fragment is
never sent to any server. ``env:NAME`` in place of the URL reads the whole value from the
environment, so secrets can stay in the service's environment file rather than in the database.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import aiohttp
from sqlalchemy import Engine, insert, update

from monitor.models import AlertDelivery
from registry.protection import ProtectionKeyError, Protector, load_key

log = logging.getLogger(__name__)

CHANNELS = ("webhook", "dingtalk", "wecom", "feishu")

#: Findings listed in a robot's message; the rest are counted.
MAX_LISTED = 20
#: Byte limits of each robot's message text (below the vendors' limits, leaving room for the JSON).
TEXT_LIMITS = {"dingtalk": 18_000, "wecom": 4_096, "feishu": 18_000}
#: Findings sent in a plain webhook's JSON body.
MAX_WEBHOOK_FINDINGS = 5_000
#: Longest wait between two attempts, whatever Retry-After asks.
MAX_DELAY = 300.0

# Error codes in a robot's answer that mean "too many messages, try later".
_RATE_LIMITED = {"dingtalk": {130101, -1}, "wecom": {45009, -1}, "feishu": {11232, 230020}}
_SECRET_PARAMS = re.compile(r"^(access_?token|token|key|secret|sign|signature|password|passwd|auth|api_?key|apikey)$", re.I)
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-]{16,}$")


class AlertError(ValueError):
    """An ``--alert`` value that names no receiver we can send to."""


@dataclass(frozen=True)
class AlertTarget:
    """One receiver: its kind, its URL (with any token in it) and an optional signing secret."""

    channel: str
    url: str
    secret: str | None = None

    @property
    def endpoint(self) -> str:
        """The URL with its secrets masked: what is stored and logged."""
        return mask_url(self.url)

    def receiver(self, protector: Protector) -> str:
        """A keyed hash of this receiver, stored beside the masked endpoint: equal for the same
        receiver given again, different for two whose masked endpoints read alike."""
        return protector.fingerprint("alert_receiver", f"{self.channel}\n{self.url}\n{self.secret or ''}")


def receiver_protector() -> Protector | None:
    """The data-protection key's :class:`~registry.protection.Protector`, which fingerprints
    receivers; None (logged) when no key can be loaded, and deliveries are then recorded without
    one — an alert is never held up for it."""
    try:
        return Protector(load_key())
    except (ProtectionKeyError, OSError) as exc:
        log.warning("alert receivers are recorded without a fingerprint: %s", exc)
        return None


def parse_alert(value: str) -> AlertTarget:
    """``dingtalk=URL``, ``wecom=URL``, ``feishu=URL``, ``webhook=URL`` or a bare URL (a webhook).

    ``URL#secret=S`` adds a signing secret; ``env:NAME`` (alone or after ``channel=``) reads the
    value from the environment variable NAME.
    """
    raw = value.strip()
    channel, sep, rest = raw.partition("=")
    if sep and channel.lower() in CHANNELS:
        channel, url = channel.lower(), rest.strip()
    else:
        channel, url = "", raw
    if url.startswith("env:"):
        name = url[4:]
        url = os.environ.get(name, "").strip()
        if not url:
            raise AlertError(f"--alert {value!r}: the environment variable {name} is not set")
        if not channel:
            return parse_alert(url)
        inner, isep, inner_url = url.partition("=")
        if isep and inner.lower() in CHANNELS:  # the variable holds "channel=URL" itself
            url = inner_url.strip()
    channel = channel or "webhook"
    url, _, fragment = url.partition("#")
    secret = dict(parse_qsl(fragment)).get("secret") or None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertError(f"--alert {mask_url(value)!r}: expected CHANNEL=URL with an http(s) URL "
                         f"(CHANNEL one of {', '.join(CHANNELS)}), or a bare URL for a webhook")
    return AlertTarget(channel, url, secret)


def mask_url(url: str) -> str:
    """``url`` with tokens, keys, signatures, passwords and token-like path segments as ``***``."""
    try:
        parts = urlsplit(url.split("#", 1)[0])
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = (userinfo.split(":", 1)[0] + ":***@" if ":" in userinfo else "***@") + host
    segments = parts.path.split("/")
    hook = "hook" in segments
    path = "/".join("***" if s and (_TOKEN_SEGMENT.match(s) or (hook and i == len(segments) - 1)) else s
                    for i, s in enumerate(segments))
    query = "&".join(f"{k}=***" if _SECRET_PARAMS.match(k) else (f"{k}={v}" if v else k)
                     for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


# --- message bodies --------------------------------------------------------------------------

def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes, cut on a character boundary and marked with an ellipsis."""
    data = text.encode()
    if len(data) <= limit:
        return text
    marker = "…"
    room = limit - len(marker.encode())
    head = data[:room].decode("utf-8", "ignore")
    return head + marker


def _title(summary: dict[str, Any], new_findings: list[dict[str, Any]]) -> str:
    sweep = summary.get("sweep_id", summary.get("id", "?"))
    where = f" [{summary['schedule']}]" if summary.get("schedule") else ""
    return f"icpwatch 巡查 #{sweep}{where}：{len(new_findings)} 条新发现"


def _finding_line(f: dict[str, Any], markdown: bool) -> str:
    what = f.get("domain") or f.get("ip") or f.get("target") or "?"
    bits = [f"**{f.get('code', '?')}**" if markdown else str(f.get("code", "?")), str(what)]
    if f.get("redirect_to"):
        bits.append(f"→ {f['redirect_to']}")
    if f.get("ip") and f.get("ip") != what:
        bits.append(f"({f['ip']})")
    if f.get("provider"):
        bits.append(f"接入商 {f['provider']}")
    if f.get("article"):
        bits.append(f"第{f['article']}条")
    if f.get("points"):
        bits.append(f"{f['points']}分")
    return "- " + " ".join(bits)


def _counts(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    if not isinstance(counts, dict):
        return str(counts)
    return "，".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, (dict, list)))


def message_text(summary: dict[str, Any], new_findings: list[dict[str, Any]], *, markdown: bool = True,
                 limit: int | None = None) -> str:
    """The human text of an alert: title, counts, then as many of the first :data:`MAX_LISTED` new
    findings as fit in ``limit`` UTF-8 bytes, and how many more there are."""
    title = _title(summary, new_findings)
    head = [f"### {title}" if markdown else title]
    if _counts(summary):
        head.append(f"统计：{_counts(summary)}")
    if not new_findings:
        head.append("本次巡查没有新发现。")
    budget = (limit or 10**9) - len("\n".join(head).encode()) - 80  # room for the closing line
    lines: list[str] = []
    for finding in new_findings[:MAX_LISTED]:
        line = _cut(_finding_line(finding, markdown), 600)
        cost = len(line.encode()) + 1
        if cost > budget:
            break
        lines.append(line)
        budget -= cost
    rest = len(new_findings) - len(lines)
    tail = [f"… 另有 {rest} 条，见 icpwatch findings"] if rest > 0 else []
    text = "\n".join(head + lines + tail)
    return _cut(text, limit) if limit else text


def payload(target: AlertTarget, summary: dict[str, Any], new_findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON body ``target``'s receiver accepts (before any signature is added)."""
    if target.channel == "dingtalk":
        return {"msgtype": "markdown", "markdown": {
            "title": _title(summary, new_findings),
            "text": message_text(summary, new_findings, limit=TEXT_LIMITS["dingtalk"])}}
    if target.channel == "wecom":
        return {"msgtype": "markdown", "markdown": {
            "content": message_text(summary, new_findings, limit=TEXT_LIMITS["wecom"])}}
    if target.channel == "feishu":
        text = message_text(summary, new_findings, limit=TEXT_LIMITS["feishu"]).split("\n", 1)
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": _title(summary, new_findings)},
                       "template": "red" if new_findings else "green"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text[1] if len(text) > 1 else ""}}]}}
    listed = new_findings[:MAX_WEBHOOK_FINDINGS]
    return {"source": "icpwatch", "event": "sweep.new_findings", "sweep_id": summary.get("sweep_id"),
            "summary": {k: v for k, v in summary.items() if k != "findings"},
            "new_findings": listed, "new_count": len(new_findings),
            "truncated": len(new_findings) - len(listed)}


def _signed(target: AlertTarget, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL and body with the robot's signature, when the target has a secret."""
    if not target.secret:
        return target.url, body
    if target.channel == "dingtalk":  # HMAC-SHA256 of "timestamp\nsecret", keyed by the secret
        ts = str(int(time.time() * 1000))
        digest = hmac.new(target.secret.encode(), f"{ts}\n{target.secret}".encode(), hashlib.sha256).digest()
        sep = "&" if urlsplit(target.url).query else "?"
        return f"{target.url}{sep}{urlencode({'timestamp': ts})}&sign={quote_plus(base64.b64encode(digest))}", body
    if target.channel == "feishu":  # HMAC-SHA256 of nothing, keyed by "timestamp\nsecret"
        ts = str(int(time.time()))
        digest = hmac.new(f"{ts}\n{target.secret}".encode(), b"", hashlib.sha256).digest()
        return target.url, {"timestamp": ts, "sign": base64.b64encode(digest).decode(), **body}
    return target.url, body


# --- delivery --------------------------------------------------------------------------------

@dataclass
class _Outcome:
    ok: bool
    retry: bool
    error: str | None = None
    wait: float | None = None  # what Retry-After asked for


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _judge(channel: str, status: int, text: str, retry_after: str | None) -> _Outcome:
    wait = _retry_after(retry_after)
    if status == 429 or status >= 500:
        return _Outcome(False, True, f"HTTP {status}: {text[:200]}", wait)
    code: Any = None
    if channel != "webhook":
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        if isinstance(answer, dict):
            code = answer.get("errcode", answer.get("code", answer.get("StatusCode")))
    if isinstance(code, int) and code != 0:
        retry = code in _RATE_LIMITED.get(channel, ())
        return _Outcome(False, retry, f"HTTP {status}, error code {code}: {text[:200]}", wait)
    if 200 <= status < 300:
        return _Outcome(True, False)
    return _Outcome(False, False, f"HTTP {status}: {text[:200]}")


async def _post(session: aiohttp.ClientSession, target: AlertTarget, body: dict[str, Any]) -> _Outcome:
    url, body = _signed(target, body)
    try:
        async with session.post(url, json=body, headers={"User-Agent": "icpwatch-alerts"}) as response:
            text = await response.text(errors="replace")
            return _judge(target.channel, response.status, text, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return _Outcome(False, True, f"{type(exc).__name__}: {exc}".replace(target.url, target.endpoint))


class _Deliveries:
    """The ``alert_deliveries`` rows of one dispatch."""

    def __init__(self, engine: Engine, protector: Protector | None) -> None:
        self.engine = engine
        self.protector = protector

    def start(self, sweep_id: int, target: AlertTarget) -> int:
        receiver = target.receiver(self.protector) if self.protector is not None else None
        with self.engine.begin() as conn:
            result = conn.execute(insert(AlertDelivery.__table__).values(
                sweep_id=sweep_id, channel=target.channel, endpoint=target.endpoint, receiver=receiver,
                status="pending", attempts=0))
            return int(result.inserted_primary_key[0])

    def update(self, row: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(AlertDelivery.__table__).where(AlertDelivery.__table__.c.id == row).values(**values))


async def _deliver(deliveries: _Deliveries, session: aiohttp.ClientSession, sweep_id: int, target: AlertTarget,
                   body: dict[str, Any], attempts: int, backoff: float) -> None:
    row = await asyncio.to_thread(deliveries.start, sweep_id, target)
    for attempt in range(1, max(1, attempts) + 1):
        outcome = await _post(session, target, body)
        if outcome.ok:
            await asyncio.to_thread(deliveries.update, row, status="delivered", attempts=attempt, last_error=None,
                                    delivered_at=datetime.now(timezone.utc))
            log.info("alert delivered to %s %s (attempt %d)", target.channel, target.endpoint, attempt)
            return
        last = attempt >= attempts or not outcome.retry
        await asyncio.to_thread(deliveries.update, row, attempts=attempt, last_error=outcome.error,
                                **({"status": "failed"} if last else {}))
        if last:
            log.warning("alert to %s %s failed after %d attempt(s): %s",
                        target.channel, target.endpoint, attempt, outcome.error)
            return
        delay = outcome.wait if outcome.wait is not None else backoff * 2 ** (attempt - 1)
        await asyncio.sleep(min(max(delay, 0.0), MAX_DELAY))


async def _deliver_all(engine: Engine, sweep_id: int, bodies: list[tuple[AlertTarget, dict[str, Any]]],
                       attempts: int, backoff: float, timeout: float, protector: Protector | None) -> None:
    deliveries = _Deliveries(engine, protector or await asyncio.to_thread(receiver_protector))
    client_timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        results = await asyncio.gather(*(_deliver(deliveries, session, sweep_id, t, b, attempts, backoff)
                                         for t, b in bodies), return_exceptions=True)
    for (target, _), result in zip(bodies, results, strict=True):
        if isinstance(result, BaseException):
            log.error("alert to %s %s: %s", target.channel, target.endpoint, result)


def dispatch(engine: Engine, sweep_id: int, summary: dict[str, Any], new_findings: list[dict[str, Any]],
             targets: list[AlertTarget], *, attempts: int = 5, backoff: float = 1.0,
             timeout: float = 10.0, protector: Protector | None = None) -> threading.Thread:
    """Send the alert to every target on a started daemon thread, and return the thread at once.

    Never raises into the caller; failures end up in ``alert_deliveries`` and the log. A
    short-lived process (``icpwatch sweep``) should ``join`` the thread, with a bound, before
    it exits, or the remaining attempts die with it. ``protector`` fingerprints the receivers
    (:func:`receiver_protector` when not given).
    """
    bodies: list[tuple[AlertTarget, dict[str, Any]]] = []
    for target in targets:
        try:
            bodies.append((target, payload(target, summary, new_findings)))
        except Exception:  # noqa: BLE001 - an alert must never break the sweep
            log.exception("cannot build the alert for %s %s", target.channel, target.endpoint)

    def run() -> None:
        try:
            if bodies:
                asyncio.run(_deliver_all(engine, sweep_id, bodies, attempts, backoff, timeout, protector))
        except BaseException:  # noqa: BLE001 - the thread's last line of defence
            log.exception("alert dispatch for sweep %s failed", sweep_id)

    thread = threading.Thread(target=run, name=f"icpwatch-alerts-{sweep_id}", daemon=True)
    thread.start()
    return thread
