"""What /proc says about the processes a benchmark started (shared by the benchmarks that sum the
memory or CPU of a process tree: Chromium's, or a crawl's workers), and about the machine's CPU
while it ran."""

from __future__ import annotations

import os
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, children first."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(fields[1]), []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def host_cpu() -> list[int]:
    """The machine's CPU time so far, in ticks, by state (the ``cpu`` line of /proc/stat)."""
    with open("/proc/stat") as stat:
        return [int(x) for x in stat.readline().split()[1:]]


def host_cpu_shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the machine's CPU time between two :func:`host_cpu` readings that was idle, and
    that was stolen: taken by the hypervisor for other guests. On a shared host the same work
    costs more CPU seconds when much is stolen (the cores' caches are shared too), so a figure
    measured under heavy steal is not this code's."""
    spent = [b - a for a, b in zip(before, after)]
    total = sum(spent) or 1
    idle = spent[3] + (spent[4] if len(spent) > 4 else 0)  # idle and iowait
    steal = spent[7] if len(spent) > 7 else 0
    return {"idle_percent": round(100 * idle / total, 1), "steal_percent": round(100 * steal / total, 1)}
