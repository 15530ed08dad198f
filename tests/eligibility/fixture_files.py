"""Our own 271/999/TA1 fixtures: the answers the reader must handle, written by the synthetic writer.

Run ``python -m tests.eligibility.fixture_files`` to rewrite ``tests/fixtures/x12/`` after a change;
``test_fixture_files_are_current`` fails when the committed files and this module drift apart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from eligibility.x12.synthetic import Answer, Person, Row, write_271, write_999, write_ta1

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "x12"

JANE = Person("JANE", "DOE", dt.date(1980, 2, 14), "F", member_id="ZZX123456789", group_number="GRP00042")
SAM = Person("SAM", "DOE", dt.date(2015, 6, 1), "M", relationship="19")
PPO_ROWS = (
    Row("1", ("30",), "IND", "PR", "SILVER PPO 2500"),
    Row("C", ("30",), "IND", period="23", amount="2500", in_network="Y"),
    Row("C", ("30",), "IND", period="29", amount="1750", in_network="Y"),
    Row("C", ("30",), "IND", period="23", amount="5000", in_network="N"),
    Row("B", ("98",), "IND", period="27", amount="25", in_network="Y"),
    Row("B", ("98",), "IND", period="27", amount="60", in_network="N"),
    Row("A", ("98",), "IND", percent=".2", in_network="Y"),
    Row("G", ("30",), "IND", period="23", amount="6000", in_network="Y"),
    Row("G", ("30",), "IND", period="29", amount="4200.50", in_network="Y"),
    Row("I", ("33",), messages=("CHIROPRACTIC CARE IS EXCLUDED FROM THIS PLAN",)),
)


def fixtures() -> dict[str, str]:
    """File name -> content of every fixture."""
    return {
        "active-ppo.271": write_271(Answer(JANE, rows=PPO_ROWS, patient_dates=(("346", "D8:20250101"),))),
        "inactive-ended.271": write_271(
            Answer(
                JANE,
                rows=(Row("6", ("30",), plan="SILVER PPO 2500"),),
                patient_dates=(("346", "D8:20240101"), ("347", "D8:20251231")),
            )
        ),
        "rejected-72.271": write_271(Answer(JANE, rejections=(("2100C", "72", "C"),))),
        "rejected-75.271": write_271(Answer(JANE, rejections=(("2100C", "75", "C"),))),
        "rejected-42.271": write_271(Answer(None, rejections=(("2000A", "42", "R"),))),
        "cob-other-payer.271": write_271(
            Answer(
                JANE,
                rows=(
                    Row("1", ("30",), "IND", "C1", "GOLD PLAN"),
                    Row(
                        "R",
                        ("30",),
                        insurance_type="MB",
                        dates=(("290", "D8:20250301"),),
                        entity=("PRP", "2", "MEDICARE PART B", "", "", "", "", "PI", "MCR01"),
                    ),
                ),
            )
        ),
        "auth-required.271": write_271(
            Answer(
                JANE,
                rows=(
                    Row("1", ("30",), "IND", "PR", "SILVER PPO"),
                    Row("1", ("MH", "A4"), "IND", auth_required="Y", in_network="Y", messages=("PRIOR AUTH REQUIRED",)),
                    Row("1", ("98",), "IND", auth_required="N", in_network="Y"),
                ),
            )
        ),
        "hmo-pcp-dependent.271": write_271(
            Answer(
                Person("JOHN", "DOE", dt.date(1978, 3, 9), "M", member_id="HMO987654321"),
                dependent=SAM,
                rows=(
                    Row("1", ("30",), "FAM", "HM", "BLUE HMO"),
                    Row("L", (), entity=("P3", "1", "WELBY", "MARCUS", "", "", "", "XX", "1234567893")),
                    Row("B", ("98",), "FAM", "HM", period="27", amount="15", in_network="Y"),
                ),
                identity_changed=True,
            )
        ),
        "identity-corrected.271": write_271(
            Answer(
                Person("JANE", "DOE", dt.date(1980, 2, 14), "F", member_id="ZZX123456780"),
                rows=(Row("1", ("30",), "IND", "PR"),),
                identity_changed=True,
                prior_member_id="ZZX12345678O",
            )
        ),
        "rejected-eq.999": write_999(
            group_control_number="100",
            transaction_control_number="0001",
            status="R",
            segment_errors=(("EQ", "12", "2110", "8", (("1", "1365", "7"),)),),
            set_codes=("5",),
        ),
        "accepted.999": write_999(group_control_number="100", transaction_control_number="0001", status="A"),
        "rejected-envelope.ta1": write_ta1(interchange_control_number="000000100", status="R", note="006"),
    }


def main() -> None:
    """Write every fixture into tests/fixtures/x12/."""
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in fixtures().items():
        (FIXTURE_DIR / name).write_text(content, encoding="ascii")


if __name__ == "__main__":
    main()
