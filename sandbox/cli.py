"""``icpwatch world``: generate, serve and export a sandbox world (a miniature internet on loopback)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import click

from icpwatch.clikit import emit_json, fail, json_option

from .spec import SpecError

_MIX_HELP = ("Proportion of the randomly drawn sites, NAME=FRACTION (repeatable). Names: unfiled, "
             "cancelled, blacklisted, mismatch, access_not_recorded, defects, licence, preapproval, "
             "redirects, parked, ip_only, overseas, hostile, dns_failures, https, unreported; and "
             "sites_per_address=N. The rest are compliant sites.")


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group(name="world")
def world() -> None:
    """A miniature internet on 127.0.0.0/8: DNS, web hosts and RDAP for a world spec."""


@world.command("generate")
@click.option("--sites", type=click.IntRange(1, 1_000_000), default=None,
              help="Number of websites (10 to 1,000,000); default: a few hundred covering every case.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same world).")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Spec file to write (.yaml/.yml or .json). Default: world.yaml, or world.json past 5,000 sites.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ground-truth file (default: <out stem>.truth.json beside the spec).")
@click.option("--network", default="127.16.0.0/12", show_default=True,
              help="Loopback network the providers' blocks are carved from.")
@click.option("--mix", "mix_items", multiple=True, metavar="NAME=FRACTION", help=_MIX_HELP)
@click.option("--registry-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write the registry import files into this directory.")
@json_option
def generate_cmd(sites: int | None, seed: int, out: Path | None, truth: Path | None, network: str,
                 mix_items: tuple[str, ...], registry_dir: Path | None, as_json: bool) -> None:
    """Write a realistic mixed world, its ground truth and its sweep targets.

    The ground truth (every finding a correct sweep must raise, and each party's points) is for
    tests and benchmarks only: crawler/, monitor/ and reports/ never read it.
    """
    from .generate import Mix, generate_world, targets, write_registry, write_truth
    from .spec import is_loopback, save

    if sites is not None and sites < 10:
        fail("--sites must be at least 10")
    if not is_loopback(network):
        fail(f"--network {network} is not inside 127.0.0.0/8: the sandbox serves loopback only")
    mix = Mix()
    for item in mix_items:
        name, _, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in Mix.names() or not value:
            fail(f"--mix {item!r}: expected NAME=FRACTION with NAME one of {', '.join(Mix.names())}")
        try:
            setattr(mix, name, int(value) if name == "sites_per_address" else float(value))
        except ValueError:
            fail(f"--mix {item!r}: {value!r} is not a number")
    if sum(w for k, w in mix.scenario_weights() if k != "compliant") > 1.0:
        fail("--mix: the proportions add up to more than 1")
    started = time.monotonic()
    try:
        w = generate_world(sites=sites, seed=seed, mix=mix, network=network)
    except ValueError as exc:
        fail(str(exc))
    if out is None:
        out = Path("world.json" if len(w.sites) > 5000 else "world.yaml")
    save(w, out)
    truth_path = truth or out.with_name(out.stem + ".truth.json")
    write_truth(w, truth_path)
    targets_path = out.with_name(out.stem + ".targets.txt")
    targets_path.write_text("\n".join(targets(w)) + "\n", encoding="utf-8")
    summary = {"spec": str(out), "truth": str(truth_path), "targets": str(targets_path),
               "sites": len(w.sites), "addresses": len(w.addresses()), "providers": len(w.providers),
               "blocks": len(w.blocks), "filings": len(w.filings), "seed": seed,
               "seconds": round(time.monotonic() - started, 2)}
    if registry_dir is not None:
        summary["registry"] = write_registry(w, registry_dir)
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"wrote {out} ({summary['sites']} sites on {summary['addresses']} addresses), "
                   f"ground truth {truth_path}, targets {targets_path}")


@world.command("serve")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dns", "dns_addr", default=None, help="DNS listen HOST:PORT (loopback; default from the spec, else 127.0.0.1:5353).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=None, help="HTTP port on every address (default 80; 0 = a free one).")
@click.option("--https-port", type=click.IntRange(0, 65535), default=None, help="HTTPS port on every address (default 443; 0 = a free one).")
@click.option("--rdap", "rdap_addr", default="127.0.0.1:0", show_default=True, help="RDAP listen HOST:PORT (loopback).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".icpwatch-world"),
              show_default=True, help="Where the local CA (ca.pem, which callers trust) is kept.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the listening summary (JSON) here once everything is up.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until interrupted).")
@json_option
def serve_cmd(spec: Path, dns_addr: str | None, http_port: int | None, https_port: int | None,
              rdap_addr: str, state_dir: Path, ready_file: Path | None, duration: float | None,
              as_json: bool) -> None:
    """Serve SPEC (DNS, web hosts on every address, RDAP) until stopped (Ctrl-C or SIGTERM).

    Prints where DNS listens; with --json one JSON document once everything is up.
    """
    from .serve import Sandbox
    from .spec import load

    started = time.monotonic()
    try:
        w = load(spec)
        box = Sandbox(w, dns=dns_addr, http_port=http_port, https_port=https_port, rdap=rdap_addr,
                      state_dir=state_dir)
        info = box.start()
    except SpecError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen: {exc}")
    info["start_seconds"] = round(time.monotonic() - started, 3)
    if ready_file is not None:
        ready_file.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    if as_json:
        emit_json(info)
    else:
        click.echo(f"DNS listening on {info['dns']} (dig @{info['dns_host']} -p {info['dns_port']} NAME)")
        click.echo(f"web: {info['addresses']} addresses, HTTP port {info['http_port']}, HTTPS port "
                   f"{info['https_port']}, CA file {info['ca_file']}")
        click.echo(f"RDAP: {info['rdap']}")
        click.echo(f"{info['sites']} sites up in {info['start_seconds']} s; Ctrl-C to stop")
    sys.stdout.flush()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait(timeout=duration)
    finally:
        box.stop()
        _say("stopped")


@world.command("registry")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
def registry_cmd(spec: Path, directory: Path, as_json: bool) -> None:
    """Write SPEC's registry import files into DIRECTORY: providers.csv, filings.csv,
    ip-ranges.csv, domains.csv, blacklist.csv (DESIGN.md §4 columns, UTF-8 with a header)."""
    from .generate import write_registry
    from .spec import load

    try:
        w = load(spec)
    except SpecError as exc:
        fail(str(exc))
    summary = write_registry(w, directory)
    if as_json:
        emit_json(summary)
    else:
        for kind, item in summary["files"].items():
            click.echo(f"{item['path']}: {item['rows']} {kind} rows")
