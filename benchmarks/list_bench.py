"""`pact list` as a whole process on a home of many contracts: the work queue's first page, every row,
JSON and a filter, beside the process floor (`pact --help`).

    .venv/bin/python benchmarks/list_bench.py                      # 1,000 contracts
    .venv/bin/python benchmarks/list_bench.py --contracts 10000
    PYTHONPATH=<checkout>/src .venv/bin/python benchmarks/list_bench.py   # another version's figures

The home is built through the public API (half broadband faults opened as the customer, half billing
disputes run as the supplier), then each command runs three times in a fresh process; the median is
printed. Compare versions as ratios taken in one session: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pactclient import catalog
from pactclient.identity import DeviceIdentity
from pactclient.store import Workspace

COMMANDS = {
    "pact --help (floor)": ["--help"],
    "pact list (first page)": ["list"],
    "pact list --all": ["list", "--all"],
    "pact list --json": ["list", "--json"],
    "pact list --waiting-on me fault 49": ["list", "--waiting-on", "me", "fault", "49"],
}


def build(home: Path, contracts: int) -> None:
    ws = Workspace(home, DeviceIdentity.create(home, "Alice"), defer_upkeep=True)
    for n in range(contracts // 2):
        ws.create(f"Broadband fault {n}", catalog.load("broadband-fault"), "customer")
        ws.create(f"Bill query {n}", catalog.load("billing-dispute"), "supplier")
    ws.upkeep()
    ws.close()


def timed(home: Path, args: list[str]) -> float | None:
    """Median seconds of three runs; None if the command fails (an older version without an option)."""
    env = dict(os.environ)
    env.pop("PACT_HOME", None)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pactclient", "--home", str(home), *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            return None
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main(contracts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "desk"
        started = time.perf_counter()
        build(home, contracts)
        print(f"built {contracts} contracts in {time.perf_counter() - started:.0f} s")
        for label, args in COMMANDS.items():
            seconds = timed(home, args)
            print(f"{label:<40} " + (f"{seconds:6.2f} s" if seconds is not None else "   n/a"), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1000)
    main(parser.parse_args().contracts)
