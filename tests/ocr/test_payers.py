"""Payer matching against the payer list we ship, on names as cards print them and OCR misreads them."""

from __future__ import annotations

import json

import pytest

from intake.ocr.payers import PAYERS_PATH, default_payers, match_payer, normalize_payer_name


def test_the_shipped_list_is_well_formed():
    raw = json.loads(PAYERS_PATH.read_text(encoding="utf-8"))
    names = [entry["name"] for entry in raw["payers"]]
    assert 30 <= len(names) <= 60
    assert len(set(names)) == len(names)
    assert {entry["type"] for entry in raw["payers"]} <= {
        "commercial",
        "medicare",
        "medicaid",
        "medicare_advantage",
        "military",
    }
    example = next(entry for entry in raw["payers"] if entry["name"] == "EXAMPLE HEALTH PLAN")
    assert example["payer_ids"]["sandbox"]["270"] == "EX001"


def test_no_alias_points_at_two_payers():
    seen: dict[str, str] = {}
    for payer in default_payers().payers:
        for spelling in (payer.name, *payer.aliases):
            key = normalize_payer_name(spelling)
            assert seen.setdefault(key, payer.name) == payer.name, f"{spelling!r} is ambiguous"


@pytest.mark.parametrize(
    ("printed", "normalised"),
    [
        ("The Cigna Group", "CIGNA GROUP"),
        ("Blue Cross & Blue Shield of Texas", "BLUE CROSS BLUE SHIELD TEXAS"),
        ("BCBS of Illinois", "BLUE CROSS BLUE SHIELD ILLINOIS"),
        ("BlueCross BlueShield", "BLUE CROSS BLUE SHIELD"),
        ("Aetna Life Insurance Co.", "AETNA LIFE INSURANCE"),
        ("  UnitedHealthcare,  Inc. ", "UNITEDHEALTHCARE"),
    ],
)
def test_normalisation(printed, normalised):
    assert normalize_payer_name(printed) == normalised


@pytest.mark.parametrize(
    ("printed", "payer"),
    [
        ("UHC", "UnitedHealthcare"),
        ("UnitedHealthcare Choice Plus", "UnitedHealthcare"),
        ("CHOICE PLUS", "UnitedHealthcare"),
        ("Cigna Open Access Plus", "Cigna Healthcare"),
        ("BlueCross BlueShield of Texas", "Blue Cross and Blue Shield of Texas"),
        ("BCBS", "Blue Cross Blue Shield"),
        ("MEDICARE HEALTH INSURANCE", "Medicare"),
        ("Example Health Plan", "EXAMPLE HEALTH PLAN"),
    ],
)
def test_exact_aliases_are_accepted(printed, payer):
    result = match_payer(printed)
    assert result["name"] == payer
    assert result["decision"] == "accept"
    assert result["score"] == 100


def test_ocr_typos_are_still_accepted():
    assert match_payer("UNITEDHEALTHCARF")["name"] == "UnitedHealthcare"
    assert match_payer("HARVARD PILGRM HEALTH CARE")["decision"] == "accept"
    assert match_payer("AMERI GROUP")["name"] == "Amerigroup"


def test_a_more_specific_plan_wins_over_the_generic_blue():
    result = match_payer("BLUE CROSS BLUE SHIELD OF ILLINOIS PPO")
    assert result["name"] == "Blue Cross and Blue Shield of Illinois"


def test_part_of_a_name_is_not_that_payer():
    # token_set_ratio alone would give these 100.
    assert match_payer("HEALTH")["decision"] == "reject"
    assert match_payer("MEMBER SERVICES")["decision"] == "reject"


def test_doubtful_names_go_to_staff_and_unknown_ones_are_rejected():
    assert match_payer("EXAMPLF HEALTH PIAN")["decision"] == "ask_staff"
    rejected = match_payer("Springfield Widget Mutual")
    assert rejected == {"name": None, "score": rejected["score"], "decision": "reject", "payer_ids": {}, "type": None}
    assert match_payer(None)["decision"] == "reject"
    assert match_payer("")["decision"] == "reject"


def test_result_shape_and_ids_are_per_clearinghouse():
    result = match_payer("EXAMPLE HEALTH PLAN")
    assert set(result) == {"name", "score", "decision", "payer_ids", "type"}
    assert result["payer_ids"] == {"sandbox": {"270": "EX001", "837": "EX001"}}
    assert result["type"] == "commercial"


def test_printed_payer_id_breaks_a_near_tie(tmp_path):
    payer_file = tmp_path / "payers.json"
    payer_file.write_text(
        json.dumps(
            {
                "payers": [
                    {"name": "Northwind Health Plan", "type": "commercial", "aliases": [], "payer_ids": {}},
                    {
                        "name": "Northwind Health Plans",
                        "type": "commercial",
                        "aliases": [],
                        "payer_ids": {"house": {"270": "NW123"}},
                    },
                ]
            }
        )
    )
    from intake.ocr.payers import load_payers

    payers = load_payers(payer_file)
    assert match_payer("NORTHWIND HEALTH PLAN5", payers=payers)["name"] == "Northwind Health Plan"
    chosen = match_payer("NORTHWIND HEALTH PLAN5", payer_id="NW123", payers=payers)
    assert chosen["name"] == "Northwind Health Plans"
