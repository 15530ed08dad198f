"""`python -m sandbox` as its own process: starts, serves, keeps its state across restarts, resets on demand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.sandbox.conftest import Athena

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def sandbox_process(*args: str) -> Iterator[str]:
    env = {**os.environ, "SANDBOX_WEBHOOK_ENABLED": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_runs_as_a_process_and_keeps_state_until_reset(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.sqlite3")
    with sandbox_process("--db", db, "--seed", "3", "--reset") as url:
        stats = requests.get(f"{url}/_sandbox/stats", timeout=5).json()
        created = (
            Athena(url)
            .post(
                "/patients",
                {"firstname": "Perry", "lastname": "Sistent", "dob": "02/02/1992", "departmentid": "1", "zip": "02110"},
            )
            .json()[0]["patientid"]
        )
        assert stats["seed"] == 3

    with sandbox_process("--db", db) as url:
        kept = Athena(url).get(f"/patients/{created}")
        assert kept.status_code == 200
        assert requests.get(f"{url}/_sandbox/stats", timeout=5).json()["seed"] == 3

    with sandbox_process("--db", db, "--reset") as url:
        patients = requests.get(f"{url}/_sandbox/records/patients", timeout=5).json()["patients"]
        assert "Sistent" not in {patient["lastname"] for patient in patients}
        assert requests.get(f"{url}/_sandbox/stats", timeout=5).json()["seed"] == 1
