"""The sandbox attack suite, run twice, and what a sandbox call costs.

1. Every program in ``tests/security/attacks/`` with all layers on (jail,
   limits, audit hook): its outcome against the one it declares, and whether
   it escaped (the escape checks are in ``tests/security/harness.py``).
2. The same programs with the audit hook not installed at all: the jail alone
   must hold (the hook is a tripwire, and model code can switch it off).
3. Per-call cost of ``print(1)``: jailed vs the weak in-process mode.

Writes ``docs/results/sandbox_attacks.json`` (keys ``attacks``, ``escapes``,
``by_outcome``, ``mismatches``, ``rows``, ``jail_only``, ``call_ms``, and over
both runs ``parent_peak_rss_mib_max``, the parent's largest memory growth
during one call, and ``writable_bytes_max``, the most bytes any attack stored).

    python benchmarks/sandbox_attacks.py [--calls 20] [--out docs/results/sandbox_attacks.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
# Sibling scripts (benchmarks/retrieval.py, ...) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "security")]

import harness

from tools.sandbox import run as sandbox


def call_ms(calls: int) -> dict[str, float]:
    """Median wall time of ``print(1)`` per call, jailed and weak, interleaved so machine load hits both alike."""
    sandbox.run_python("print(1)")  # the jail's view is computed once per process; not part of a call
    jailed, weak = [], []
    for _ in range(calls):
        t = time.perf_counter()
        assert sandbox.run_python("print(1)").stdout == "1\n"
        jailed.append(time.perf_counter() - t)
        with mock.patch.object(sandbox, "sandbox_problem", return_value="timing the weak mode"):
            t = time.perf_counter()
            assert sandbox.run_python("print(1)", allow_weak_sandbox=True).stdout == "1\n"
            weak.append(time.perf_counter() - t)
    return {
        "calls": calls,
        "jail_median": round(statistics.median(jailed) * 1000, 1),
        "weak_median": round(statistics.median(weak) * 1000, 1),
        "overhead_median": round((statistics.median(jailed) - statistics.median(weak)) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20, help="print(1) calls per mode for the timing")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "sandbox_attacks.json")
    args = ap.parse_args()
    problem = sandbox.sandbox_problem()
    if problem is not None:
        sys.exit(f"sandbox_attacks: error: {problem}")
    start = time.monotonic()
    rows = harness.run_suite()
    jail_rows = harness.run_suite(harness.LIMITS.model_copy(update={"audit_hook": False}))
    timing = call_ms(args.calls)
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    every = harness.summarise(rows + jail_rows)
    report = {
        **harness.summarise(rows),
        "parent_peak_rss_mib_max": every["parent_peak_rss_mib_max"],
        "writable_bytes_max": every["writable_bytes_max"],
        "writable_bytes_cap": harness.writable_cap(harness.LIMITS),
        "rows": [r.model_dump() for r in rows],
        "jail_only": {**harness.summarise(jail_rows), "rows": [r.model_dump() for r in jail_rows]},
        "call_ms": timing,
        "environment": {"bwrap": bwrap, "kernel": platform.release(), "machine": platform.machine(),
                        "python": platform.python_version(), "limits": harness.LIMITS.model_dump()},
        "seconds": round(time.monotonic() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    jail = report["jail_only"]
    print(f"all layers : {report['attacks']} attacks, {report['escapes']} escapes, {report['mismatches']} outcome mismatches,"
          f" {report['by_outcome']}")
    print(f"jail alone : {jail['attacks']} attacks, {jail['escapes']} escapes, {jail['by_outcome']}")
    print(f"parent peak RSS growth max {report['parent_peak_rss_mib_max']} MiB, most bytes stored {report['writable_bytes_max']}"
          f" (cap {report['writable_bytes_cap']})")
    for row in rows + jail_rows:
        if row.escaped:
            print(f"  ESCAPE {row.name}: {row.escape_reasons}")
    print(f"print(1) per call: jailed {timing['jail_median']} ms, weak {timing['weak_median']} ms (median of {timing['calls']})")
    print(f"wrote {args.out}")
    if report["escapes"] or jail["escapes"] or report["mismatches"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
