"""The default sandbox world stood up for end-to-end tests, as an analyst would stand up a province:
the world generated on a private 127.x network, its registry imported into a fresh SQLite store
under a key of its own, the world served on loopback (web on ports 80/443, DNS and RDAP on free
ports), and ``icpwatch`` run in a subprocess per command (the Twisted reactor runs once per
process). All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_KINDS = ("providers", "filings", "ip-ranges", "domains", "blacklist")


@dataclass
class ServedWorld:
    world: Any                # sandbox.spec.World
    tmp: Path
    db: str                   # the store's URL
    key: bytes                # the store's ICPWATCH_KEY
    env: dict[str, str]       # the environment icpwatch runs with (the key in it)
    info: dict[str, Any]      # where the sandbox listens (Sandbox.info)
    args: list[str]           # sweep arguments for the whole world: targets, resolver, RDAP, CA, --db, --json


def icpwatch(env: dict[str, str], *args: str, timeout: float = 300) -> dict[str, Any]:
    """``icpwatch ARGS`` in a subprocess; its one JSON document."""
    proc = subprocess.run([sys.executable, "-m", "icpwatch", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@contextmanager
def served_world(tmp: Path, network: str) -> Iterator[ServedWorld]:
    """The default world on ``network`` with its registry loaded, served until the block ends."""
    from registry.importer import import_file
    from registry.protection import Protector
    from registry.store import open_store
    from sandbox.generate import generate_world, targets, write_registry
    from sandbox.serve import Sandbox

    key = os.urandom(32)
    env = {**os.environ, "ICPWATCH_KEY": base64.urlsafe_b64encode(key).decode()}
    world = generate_world(network=network)
    (tmp / "targets.txt").write_text("\n".join(targets(world)) + "\n", encoding="utf-8")
    write_registry(world, tmp / "registry")
    db = f"sqlite:///{tmp / 'store.sqlite3'}"
    store = open_store(db)
    for kind in REGISTRY_KINDS:
        import_file(store, kind, tmp / "registry" / f"{kind}.csv", protector=Protector(key))
    store.dispose()
    with Sandbox(world, dns="127.0.0.1:0", http_port=80, https_port=443, rdap="127.0.0.1:0",
                 state_dir=tmp / "state") as box:
        info = box.info
        args = ["--targets", str(tmp / "targets.txt"), "--resolver", info["dns"], "--rdap", info["rdap"],
                "--allow-private", "--ca-file", info["ca_file"], "--db", db, "--json"]
        yield ServedWorld(world=world, tmp=tmp, db=db, key=key, env=env, info=info, args=args)
