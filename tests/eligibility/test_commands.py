"""The eligibility_270 and parse_271 management commands."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from eligibility.x12.synthetic import Answer, Row, write_271
from tests.eligibility.conftest import FIXTURES, REPO
from tests.eligibility.fixture_files import JANE
from tests.eligibility.test_x12_build import BASE_REQUEST

RESPONSE_KEYS = {
    "transaction",
    "status",
    "accepted",
    "rejections",
    "subscriber",
    "dependent",
    "benefits",
    "other_payers",
    "pcp",
    "dates",
}
BENEFIT_KEYS = {
    "info",
    "coverage_level",
    "service_types",
    "insurance_type",
    "plan",
    "period",
    "amount",
    "percent",
    "quantity_qualifier",
    "quantity",
    "auth_required",
    "in_network",
    "messages",
}


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(BASE_REQUEST))
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_eligibility_270_is_deterministic_for_the_same_options(request_file: Path) -> None:
    args = (
        "eligibility_270",
        "--input",
        str(request_file),
        "--control-number",
        "42",
        "--created-at",
        "2026-01-15T09:30",
    )
    first, second = run(*args), run(*args)
    assert first == second
    lines = first.splitlines()
    assert lines[0].endswith("*000000042*0*T*:~") and len(lines[0]) == 106
    assert lines[1] == "GS*HS*HUBCLINIC*PAYERSIM*20260115*0930*42*X*005010X279A1~"
    assert "NM1*IL*1*DOE*JANE****MI*ZZX123456789~" in lines
    assert lines[-1] == "IEA*1*000000042~"


def test_eligibility_270_single_line_and_real_time(request_file: Path) -> None:
    text = run(
        "eligibility_270",
        "--input",
        str(request_file),
        "--single-line",
        "--real-time",
        "--created-at",
        "2026-01-15T09:30",
    )
    assert text.count("\n") == 1
    assert "BHT*0022*13*HUB000000001*20260115*0930*RT~" in text


def test_eligibility_270_names_the_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**BASE_REQUEST, "provider": {"name": "Clinic", "npi": "1999999985"}}))
    with pytest.raises(CommandError, match=r"provider\.npi"):
        run("eligibility_270", "--input", str(path))


def test_eligibility_270_rejects_broken_json_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"subscriber": {"last_name": "DOE", ')
    with pytest.raises(CommandError, match="not valid JSON") as caught:
        run("eligibility_270", "--input", str(path))
    assert "DOE" not in str(caught.value)


def test_parse_271_json_has_the_documented_keys() -> None:
    data = json.loads(run("parse_271", str(FIXTURES / "active-ppo.271"), "--json"))
    assert set(data) >= RESPONSE_KEYS
    assert data["transaction"] == "271" and data["status"] == "active"
    assert all(set(b) >= BENEFIT_KEYS for b in data["benefits"])
    office_copay = next(b for b in data["benefits"] if b["info"] == "B" and b["in_network"])
    assert (office_copay["service_types"], office_copay["amount"]) == (["98"], 2500)


@pytest.mark.parametrize(
    ("name", "transaction", "accepted"),
    [("rejected-eq.999", "999", False), ("rejected-envelope.ta1", "TA1", False), ("accepted.999", "999", True)],
)
def test_parse_271_reads_acknowledgments(name: str, transaction: str, accepted: bool) -> None:
    data = json.loads(run("parse_271", str(FIXTURES / name), "--json"))
    assert (data["transaction"], data["accepted"]) == (transaction, accepted)


def test_parse_271_text_summary_is_readable() -> None:
    text = run("parse_271", str(FIXTURES / "rejected-75.271"))
    assert text.splitlines()[0] == "271: rejected"
    assert "rejection 75 (2100C): Subscriber not found; correct and resubmit." in text


def test_parse_271_service_type_option_changes_the_status(tmp_path: Path) -> None:
    path = tmp_path / "mental-health-ended.271"
    path.write_text(write_271(Answer(JANE, rows=(Row("1", ("30",)), Row("6", ("MH",))))))
    assert json.loads(run("parse_271", str(path), "--json"))["status"] == "active"
    assert json.loads(run("parse_271", str(path), "--json", "--service-type", "MH"))["status"] == "inactive"


def test_parse_271_rejects_non_x12() -> None:
    with pytest.raises(CommandError, match="does not start with an ISA"):
        run("parse_271", str(REPO / "pyproject.toml"))


def test_command_errors_exit_non_zero_without_a_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.271"
    junk.write_text("PATIENT JANE DOE DOB 1980-02-14")
    completed = subprocess.run(
        [sys.executable, "manage.py", "parse_271", str(junk), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={"DJANGO_SETTINGS_MODULE": "hub.test_settings", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode != 0
    assert "does not start with an ISA" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert "JANE" not in completed.stderr + completed.stdout
