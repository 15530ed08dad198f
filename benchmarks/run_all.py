"""Run every benchmark, hold each figure to its target, print one table, write benchmarks/results.json.

    python benchmarks/run_all.py [--pg] [--quick] [--only NAME,...]     (or: make bench / make bench-pg)

Each benchmark script runs as its own process with `--json`, one after another (they share the
machine's two cores, so running them side by side would measure the contention). Their JSON is
mapped to the figures of DESIGN.md's "Figures we hold ourselves to" table, plus the portal API
under load, the idempotency storm and the chaos run. A script that crashes, times out or prints no
JSON becomes a row that misses, with the reason as its value; an optional script that is not
there (chaos.py) becomes a "not present" row with `meets` null, skipped rather than missed. The
exit code is 1 when any figure misses, 0 otherwise.

`--quick` runs reduced sizes (a few minutes in all instead of about two hours); the sizes are part
of each figure's name, so a quick figure is never mistaken for a full one. `--only` takes run
names or their prefixes (`writeback` selects both write-back runs); see RUNS.

benchmarks/results.json is a JSON list of {"name", "value", "unit", "target", "meets"}, and
benchmarks/results.raw.json holds each script's whole JSON output; both are by-products of a run
on one machine and not committed (the README's figures are the record).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
PYTHON = sys.executable


@dataclass
class Row:
    name: str
    value: Any
    unit: str
    target: str
    meets: bool | None  # None: not measured (an optional script that is not present)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "target": self.target, "meets": self.meets}


# A figure: (name, unit, target) and how to read (value, meets) from the script's JSON.
Figure = tuple[str, str, str, Callable[[dict[str, Any]], tuple[Any, bool]]]


@dataclass
class Run:
    name: str
    script: str
    full: list[str]
    quick: list[str]
    size_full: str
    size_quick: str
    figures: list[Figure]
    timeout_full: float
    timeout_quick: float
    pg: bool = True  # the script takes --pg
    optional: bool = False  # absent script: "not present" rows, skipped (meets None), not a miss


def _num(data: dict[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _lt(value: Any, bound: float) -> bool:
    return isinstance(value, int | float) and value < bound


def _ge(value: Any, bound: float) -> bool:
    return isinstance(value, int | float) and value >= bound


def _dup_lost(data: dict[str, Any]) -> tuple[Any, bool]:
    duplicates, lost = data.get("duplicates"), data.get("lost")
    return f"{duplicates} / {lost}", duplicates == 0 and lost == 0


def _chaos(data: dict[str, Any]) -> tuple[Any, bool]:
    shown = {key: data[key] for key in ("duplicates", "lost", "ops") if key in data}
    value = " ".join(f"{key} {value}" for key, value in shown.items()) or ("meets" if data.get("meets") else "misses")
    return value, data.get("meets") is True


RUNS = [
    Run(
        "ehr_to_portal",
        "ehr_to_portal.py",
        ["--rate", "20", "--duration", "60"],
        ["--rate", "20", "--duration", "20"],
        "20 ev/s, 60 s",
        "20 ev/s, 20 s",
        [
            (
                "EHR change → portal webhook, p99",
                "ms",
                "< 250 ms, 0 missing",
                lambda d: (d.get("e2e_p99_ms"), _lt(d.get("e2e_p99_ms"), 250) and d.get("missing") == 0),
            ),
            (
                "athena webhook acknowledged, p99",
                "ms",
                "< 50 ms",
                lambda d: (d.get("ack_p99_ms"), _lt(d.get("ack_p99_ms"), 50)),
            ),
            (
                "hub ÷ bare loopback relay, p99",
                "x",
                "≤ 5x",
                lambda d: (d.get("ratio"), isinstance(d.get("ratio"), int | float) and d["ratio"] <= 5),
            ),
        ],
        timeout_full=900,
        timeout_quick=400,
    ),
    Run(
        "ehr_to_portal_100",
        "ehr_to_portal.py",
        ["--rate", "100", "--duration", "60"],
        ["--rate", "100", "--duration", "20"],
        "100 ev/s, 60 s",
        "100 ev/s, 20 s",
        [
            (
                "EHR change → portal webhook, p99",
                "ms",
                "none set; 0 missing",
                lambda d: (d.get("e2e_p99_ms"), d.get("missing") == 0),
            ),
        ],
        timeout_full=1200,
        timeout_quick=600,
    ),
    Run(
        "writeback_throughput",
        "writeback.py",
        ["--ops", "2000", "--fault-rate", "0"],
        ["--ops", "200", "--fault-rate", "0"],
        "2,000 writes, no faults, R 10/s",
        "200 writes, no faults, R 10/s",
        [
            (
                "write-back throughput ÷ rate limit R",
                "x R",
                "≥ 0.9 R, 0 duplicates",
                lambda d: (d.get("ratio"), _ge(d.get("ratio"), 0.9) and d.get("duplicates") == 0),
            ),
        ],
        timeout_full=2400,
        timeout_quick=600,
    ),
    Run(
        "writeback_faults",
        "writeback.py",
        ["--ops", "10000", "--fault-rate", "0.2"],
        ["--ops", "500", "--fault-rate", "0.2"],
        "10,000 writes, 20% faults",
        "500 writes, 20% faults",
        [("duplicates / lost under injected faults", "dup / lost", "0 / 0", _dup_lost)],
        timeout_full=7200,
        timeout_quick=900,
    ),
    Run(
        "ocr",
        "ocr.py",
        ["--cards", "200"],
        ["--cards", "50"],
        "200 cards",
        "50 cards",
        [
            (
                "OCR per card side, p95",
                "s",
                "< 1.5 s",
                lambda d: (_num(d, "seconds_per_side", "p95"), _lt(_num(d, "seconds_per_side", "p95"), 1.5)),
            ),
            (
                "OCR field accuracy, levels 0-2",
                "",
                "≥ 0.97",
                lambda d: (
                    _num(d, "overall_clean_to_moderate", "confusable"),
                    _ge(_num(d, "overall_clean_to_moderate", "confusable"), 0.97),
                ),
            ),
        ],
        timeout_full=1800,
        timeout_quick=600,
        pg=False,
    ),
    Run(
        "audit_search",
        "audit_search.py",
        ["--rows", "1000000"],
        ["--rows", "100000"],
        "1,000,000 rows",
        "100,000 rows",
        [
            (
                "audit search, worst p95",
                "ms",
                "< 200 ms",
                lambda d: (d.get("worst_p95_ms"), _lt(d.get("worst_p95_ms"), 200)),
            ),
        ],
        timeout_full=1800,
        timeout_quick=600,
        pg=False,
    ),
    Run(
        "load",
        "load.py",
        ["--rate", "100", "--duration", "60"],
        ["--rate", "100", "--duration", "20"],
        "100 req/s, 60 s",
        "100 req/s, 20 s",
        [
            ("portal API under load, p99", "ms", "< 500 ms", lambda d: (d.get("p99_ms"), _lt(d.get("p99_ms"), 500))),
            ("portal API under load, errors", "", "0", lambda d: (d.get("errors"), d.get("errors") == 0)),
            (
                "portal API under load, achieved rate",
                "req/s",
                "≥ 95% of asked",
                lambda d: (
                    d.get("achieved_rate_per_s"),
                    _ge(d.get("achieved_rate_per_s"), 0.95 * float(d.get("rate_per_s") or 0)),
                ),
            ),
        ],
        timeout_full=900,
        timeout_quick=600,
    ),
    Run(
        "idempotency_storm",
        "idempotency_storm.py",
        ["--keys", "30", "--concurrency", "50"],
        ["--keys", "12", "--concurrency", "50"],
        "30 keys x 50",
        "12 keys x 50",
        [
            (
                "idempotency storm: duplicates (effects = keys)",
                "",
                "0",
                lambda d: (
                    f"{d.get('duplicates')} (effects {d.get('effects')} / {d.get('keys')})",
                    d.get("meets") is True,
                ),
            ),
        ],
        timeout_full=1200,
        timeout_quick=600,
    ),
    Run(
        "chaos",
        "chaos.py",
        ["--ops", "10000", "--fault-rate", "0.2"],
        ["--ops", "500", "--fault-rate", "0.2"],
        "10,000 ops, 20% faults",
        "500 ops, 20% faults",
        [("chaos run, all of its targets", "", "meets", _chaos)],
        timeout_full=7200,
        timeout_quick=900,
        optional=True,
    ),
]


def parse_json(stdout: str) -> dict[str, Any] | None:
    """The script's one JSON object: the whole output, or the last line that is one."""
    text = stdout.strip()
    candidates = [text, *reversed(text.splitlines())]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                data = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


def stop(process: subprocess.Popen[str]) -> None:
    """Interrupt a script that ran out of time, so its live stack shuts down; kill it if that hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)  # KeyboardInterrupt: the harness stops the hub and sandbox
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def failed_rows(run: Run, size: str, reason: str) -> list[Row]:
    return [Row(f"{name} [{size}]", reason, unit, target, False) for name, unit, target, _ in run.figures]


def execute(run: Run, *, quick: bool, pg: bool, raw: dict[str, Any]) -> list[Row]:
    size = run.size_quick if quick else run.size_full
    script = BENCHMARKS / run.script
    if not script.exists():
        reason = f"not present ({script.relative_to(ROOT)})"
        if run.optional:
            return [Row(f"{name} [{size}]", reason, unit, target, None) for name, unit, target, _ in run.figures]
        return failed_rows(run, size, reason)
    args = [PYTHON, str(script), *(run.quick if quick else run.full), "--json"]
    if pg and run.pg:
        args.append("--pg")
    timeout = run.timeout_quick if quick else run.timeout_full
    print(f"--- {run.name}: {' '.join(args[2:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        return failed_rows(run, size, f"timed out after {timeout:.0f} s")
    elapsed = time.monotonic() - started
    data = parse_json(stdout)
    raw[run.name] = {"args": args[2:], "exit": process.returncode, "seconds": round(elapsed, 1), "output": data}
    print(f"    exit {process.returncode} after {elapsed:.0f} s", file=sys.stderr, flush=True)
    if data is None:
        tail = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        return failed_rows(run, size, f"crashed (exit {process.returncode}): {tail}")
    rows = []
    for name, unit, target, read in run.figures:
        try:
            value, meets = read(data)
        except Exception as exc:  # a figure the JSON cannot give is a miss, not a crash
            value, meets = f"unreadable: {exc!r}"[:200], False
        if value is None:
            value, meets = "missing from the script's JSON", False
        rows.append(Row(f"{name} [{size}]", value, unit, target, bool(meets)))
    return rows


def table(rows: list[Row]) -> str:
    def shown(row: Row) -> str:
        return f"{row.value} {row.unit}".strip() if row.unit and not isinstance(row.value, str) else str(row.value)

    lines = [("figure", "measured", "target", "meets")]
    lines += [
        (
            r.name,
            shown(r),
            r.target,
            {True: "yes", False: "NO", None: "skip"}[r.meets],
        )
        for r in rows
    ]
    widths = [min(80, max(len(line[i]) for line in lines)) for i in range(4)]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL + Redis for the benchmarks that run a hub")
    parser.add_argument("--quick", action="store_true", help="reduced sizes: a few minutes in all")
    parser.add_argument(
        "--only", default="", help="comma-separated run names or prefixes: " + ", ".join(r.name for r in RUNS)
    )
    parser.add_argument("--output", type=Path, default=BENCHMARKS / "results.json")
    args = parser.parse_args()

    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    runs = [run for run in RUNS if not wanted or any(run.name.startswith(name) for name in wanted)]
    if not runs:
        parser.error(f"--only matches no run; runs are {', '.join(r.name for r in RUNS)}")
    started = time.monotonic()
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for run in runs:
        rows += execute(run, quick=args.quick, pg=args.pg, raw=raw)
    args.output.write_text(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False) + "\n")
    # Every script's whole JSON beside it, for looking into a figure (git-ignored too).
    args.output.with_suffix(".raw.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    database = "PostgreSQL + Redis" if args.pg else "SQLite + ORM broker"
    mode = "quick sizes" if args.quick else "full sizes"
    print(f"\n{database}, {mode}, {time.monotonic() - started:.0f} s in all\n")
    print(table(rows))
    missed = [row for row in rows if row.meets is False]
    skipped = sum(1 for row in rows if row.meets is None)
    print(
        f"\n{len(rows) - len(missed) - skipped} of {len(rows)} figures meet their targets"
        + (f", {skipped} skipped" if skipped else "")
        + f"; results in {args.output}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
