"""Evidence bundles: one ZIP archive per finding that can be checked later.

Inside: ``finding.json`` (what, where, when, who, the decision), ``evidence.json`` (what the sweep
recorded), ``observation.json`` (the crawler's whole stored observation), ``redirect_chain.json``,
``dns.json``, ``measurements.json`` (the marks found and their geometry or rendered measurements),
``screenshot.png`` and ``page.html`` when the rendered check stored them, and ``manifest.json``
listing the SHA-256 and size of every file (and what is absent, and why). ``SHA256SUMS`` repeats
the hashes in the format ``sha256sum -c`` reads, so a bundle can be checked without icpwatch.

Everything written is masked (DESIGN.md §4), so a bundle can be handed to the provider.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from icpwatch import __version__
from icpwatch.clikit import dumps

from .gather import ReportError, find_key, finding_row, mask_deep, parties

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


class BundleError(ReportError):
    """A bundle that cannot be written or read."""


@dataclass
class BundleReport:
    path: str
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    finding: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "checked": self.checked, "problems": self.problems,
                "finding": self.finding}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stored_observation(engine: Engine, run_id: str | None, key: str | None) -> dict[str, Any] | None:
    if not run_id or not key:
        return None
    from crawler.store import observations

    with engine.connect() as connection:
        data = connection.execute(select(observations.c.data).where(observations.c.run_id == run_id,
                                                                    observations.c.target_key == key)).scalar()
    return data


def _file_of(evidence: dict[str, Any], key: str) -> Path | None:
    value = find_key(evidence, key)
    if isinstance(value, dict):
        value = value.get("path")
    if isinstance(value, str) and value and Path(value).is_file():
        return Path(value)
    return None


def write_bundle(engine: Engine, finding_id: int, out: str | Path) -> dict[str, Any]:
    """Write the evidence bundle of one finding; returns its manifest."""
    from monitor.models import Finding, Sighting
    from monitor.store import MonitorStore

    with MonitorStore(engine).session() as s:
        f = s.get(Finding, finding_id)
        if f is None:
            raise BundleError(f"finding {finding_id}: no such finding in this store")
        seen = [(sw, at) for sw, at in s.execute(select(Sighting.sweep_id, Sighting.seen_at)
                                                  .where(Sighting.finding_id == finding_id))]
        row = finding_row(f, seen, parties(engine))
        raw_evidence = dict(f.evidence or {})
    ref = raw_evidence.get("observation") or {}
    observation = _stored_observation(engine, ref.get("run_id"), ref.get("observation"))
    files: dict[str, bytes] = {}
    absent: dict[str, str] = {}
    summary = {k: v for k, v in row.to_dict().items() if k not in ("evidence", "deadline")}
    summary["status_note"] = "verified" if row.decided_by and f.status == "verified" else f.status
    files["finding.json"] = dumps(mask_deep(summary)).encode()
    files["evidence.json"] = dumps(row.evidence).encode()
    if observation is not None:
        masked = mask_deep(observation)
        files["observation.json"] = dumps(masked).encode()
        files["redirect_chain.json"] = dumps(masked.get("redirect_chain") or []).encode()
        files["dns.json"] = dumps(masked.get("dns") or {}).encode()
        page = masked.get("page") or {}
        files["measurements.json"] = dumps({"marks": page.get("marks") or [], "filing_links": page.get("filing_links") or [],
                                            "render": page.get("render") or find_key(masked, "measurements"),
                                            "http_status": masked.get("http_status"), "final_url": masked.get("final_url"),
                                            "ip": masked.get("ip"), "fetched_at": masked.get("fetched_at")}).encode()
    else:
        reason = "the crawl run holding the observation is no longer in the store" if ref else \
            "this finding is about an address, not a fetched page"
        for name in ("observation.json", "redirect_chain.json", "dns.json", "measurements.json"):
            absent[name] = reason
        if row.evidence.get("hop"):
            files["redirect_chain.json"] = dumps([row.evidence["hop"]]).encode()
            absent.pop("redirect_chain.json")
    for name, key, why in (("screenshot.png", "screenshot", "the page was not rendered (sweep --render)"),
                           ("page.html", "html", "the page source is kept only by the rendered check")):
        source = raw_evidence if _file_of(raw_evidence, key) else (observation or {})
        path = _file_of(source, key)
        if path is not None:
            files[name] = path.read_bytes()
            # the rendered check hashed the file when it took it: a file changed since is named
            recorded = find_key(source, f"{key}_sha256")
            if recorded and recorded != _sha256(files[name]):
                absent[f"{name} (as recorded)"] = f"the file on disk no longer matches the SHA-256 {recorded} recorded at the sweep"
        else:
            absent[name] = why
    manifest = {"finding": finding_id, "fingerprint": f.fingerprint, "code": f.code,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "created_by": f"icpwatch {__version__}",
                "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in sorted(files.items())},
                "absent": absent}
    manifest_bytes = dumps(manifest).encode()
    sums = "".join(f"{_sha256(data)}  {name}\n" for name, data in sorted({**files, MANIFEST: manifest_bytes}.items()))
    target = Path(out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
            archive.writestr(MANIFEST, manifest_bytes)
            archive.writestr(SUMS, sums)
    except OSError as exc:
        raise BundleError(f"--out {target}: cannot write ({exc.strerror or exc})") from None
    return manifest


def verify_bundle(path: str | Path) -> BundleReport:
    """Check every file of a bundle against its manifest, and the manifest against SHA256SUMS."""
    report = BundleReport(str(path), ok=False)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"not a readable ZIP archive: {exc}")
        return report
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SUMS not in names:
            report.problems.append(f"missing {MANIFEST} or {SUMS}")
            return report
        try:
            manifest_bytes = archive.read(MANIFEST)
            manifest = json.loads(manifest_bytes)
            sums = dict(reversed(line.split("  ", 1)) for line in archive.read(SUMS).decode().splitlines() if line)
        except (ValueError, UnicodeDecodeError) as exc:
            report.problems.append(f"unreadable manifest: {exc}")
            return report
        report.finding = manifest.get("finding")
        if sums.get(MANIFEST) != _sha256(manifest_bytes):
            report.problems.append(f"{MANIFEST} does not match its hash in {SUMS}")
        listed = manifest.get("files") or {}
        for name in sorted(names - set(listed) - {MANIFEST, SUMS}):
            report.problems.append(f"{name}: in the archive but not in the manifest")
        for name, meta in sorted(listed.items()):
            if name not in names:
                report.problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest = _sha256(archive.read(name))
            report.checked += 1
            if digest != meta.get("sha256") or digest != sums.get(name):
                report.problems.append(f"{name}: SHA-256 {digest} does not match the manifest")
    report.ok = not report.problems
    return report
