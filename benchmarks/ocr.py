"""Measure insurance-card OCR: field accuracy per field and degradation level, and seconds per card side.

    python benchmarks/ocr.py --json [--cards 200] [--seed 0] [--levels 0,1,2,3]

Cards come from the seeded generator (`intake.ocr.cards`), so every run with the same arguments
reads the same images. How fields are counted:

- A field is scored on a card when the card's ground truth has it (a card without a group number
  is not scored on group number). A value read for a field the card does not have is counted
  separately as "spurious".
- Ids (member id, group, RxBIN, RxPCN, RxGRP, payer id) compare upper-cased with spaces and dashes
  removed: "exact" needs every character right; "confusable" first maps O/Q/D→0, I/L→1, S→5, B→8,
  Z→2, G→6 on both sides, the characters staff are asked to confirm.
- Names (payer name as printed, subscriber) compare on letters only, so OCR's word splits and
  punctuation do not count; phone on its ten digits; plan type as the keyword; each copay as its
  amount in cents. For these, exact and confusable are the same.
- "overall" pools every scored field of levels 0-2 (clean to moderate); "payer_match" (the
  canonical payer we resolve the printed name to) is reported beside it, not inside it.
- Seconds are wall time of `read_side` per image side: decode, preprocess, Tesseract, re-reads and
  extraction, one side at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intake.ocr.cards import DEGRADATION_LEVELS, generate_card
from intake.ocr.confusables import compact, fold_confusables
from intake.ocr.extract import COPAY_KINDS, FIELD_NAMES
from intake.ocr.pipeline import tesseract_available
from intake.ocr.reader import read_card

ID_FIELDS = {"member_id", "group_number", "rx_bin", "rx_pcn", "rx_group", "payer_id"}
NAME_FIELDS = {"payer_name", "subscriber_name"}
CLEAN_TO_MODERATE = (0, 1, 2)


def _exact_key(field: str, value: Any) -> str:
    text = str(value).upper()
    if field in NAME_FIELDS:
        return re.sub(r"[^A-Z]", "", text)
    return compact(text)


def _scores(field: str, predicted: Any, truth: Any) -> tuple[bool, bool]:
    if predicted is None:
        return False, False
    exact = _exact_key(field, predicted) == _exact_key(field, truth)
    if field in ID_FIELDS:
        return exact, exact or fold_confusables(str(predicted)) == fold_confusables(str(truth))
    return exact, exact


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def run(cards: int, seed: int, levels: list[int]) -> dict[str, Any]:
    """Generate and read `cards` cards spread over `levels`; return the figures as a dict."""
    # counts[level][field] = [scored, exact, confusable, flagged_when_wrong, wrong, flagged_when_right]
    counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0, 0]))
    spurious: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    payer_match: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    seconds: dict[int, list[float]] = defaultdict(list)
    started = time.perf_counter()

    for index in range(cards):
        level = levels[index % len(levels)]
        card = generate_card(seed + index, level)
        reading = read_card(card.front, card.back)
        seconds[level] += [reading.timings["front_seconds"], reading.timings["back_seconds"]]
        truth = card.truth

        for field in FIELD_NAMES:
            predicted = reading.fields[field]
            if truth[field] is None:
                if predicted is not None:
                    spurious[level][field] += 1
                continue
            exact, confusable = _scores(field, predicted, truth[field])
            _tally(counts[level][field], exact, confusable, reading.needs_confirmation[field])
        for kind in COPAY_KINDS:
            if kind not in truth["copays"]:
                if kind in reading.fields["copays"]:
                    spurious[level]["copays"] += 1
                continue
            right = reading.fields["copays"].get(kind) == truth["copays"][kind]
            _tally(counts[level]["copays"], right, right, reading.needs_confirmation["copays"])
        payer_match[level][0] += 1
        payer_match[level][1] += reading.payer["name"] == truth["payer_canonical"]

    fields = (*FIELD_NAMES, "copays")
    per_level: dict[str, Any] = {}
    for level in levels:
        level_counts = counts[level]
        scored = sum(level_counts[f][0] for f in fields)
        per_level[str(level)] = {
            "cards": sum(1 for i in range(cards) if levels[i % len(levels)] == level),
            "fields": {
                field: {
                    "scored": level_counts[field][0],
                    "exact": _rate(level_counts[field][1], level_counts[field][0]),
                    "confusable": _rate(level_counts[field][2], level_counts[field][0]),
                }
                for field in fields
                if level_counts[field][0]
            },
            "all_fields": {
                "scored": scored,
                "exact": _rate(sum(level_counts[f][1] for f in fields), scored),
                "confusable": _rate(sum(level_counts[f][2] for f in fields), scored),
            },
            "spurious": dict(spurious[level]),
            "payer_match": _rate(payer_match[level][1], payer_match[level][0]),
            "seconds_per_side": {
                "p50": round(statistics.median(seconds[level]), 3),
                "p95": round(_percentile(seconds[level], 0.95), 3),
            },
        }

    def pooled(selected: tuple[int, ...]) -> dict[str, Any]:
        chosen = [lv for lv in levels if lv in selected]
        total = [0, 0, 0, 0, 0, 0]
        for level in chosen:
            for field in fields:
                total = [a + b for a, b in zip(total, counts[level][field], strict=True)]
        matches = [payer_match[lv] for lv in chosen]
        wrong, right = total[4], total[2]
        return {
            "levels": list(chosen),
            "scored": total[0],
            "exact": _rate(total[1], total[0]),
            "confusable": _rate(total[2], total[0]),
            "payer_match": _rate(sum(m[1] for m in matches), sum(m[0] for m in matches)),
            # How well "needs confirmation" points staff at the errors, and what it costs them.
            "wrong_fields_flagged": _rate(total[3], wrong),
            "right_fields_flagged": _rate(total[5], right),
        }

    all_seconds = [s for level in levels for s in seconds[level]]
    by_field: dict[str, Any] = {}
    for field in fields:
        row = {}
        for level in levels:
            scored, exact, confusable = counts[level][field][:3]
            if scored:
                row[str(level)] = {"exact": _rate(exact, scored), "confusable": _rate(confusable, scored)}
        by_field[field] = row

    return {
        "benchmark": "ocr",
        "cards": cards,
        "sides": len(all_seconds),
        "seed": seed,
        "levels": levels,
        "level_definitions": {str(k): v.__dict__ for k, v in DEGRADATION_LEVELS.items() if k in levels},
        "overall_clean_to_moderate": pooled(CLEAN_TO_MODERATE),
        "heavy": pooled((3,)) if 3 in levels else None,
        "accuracy_by_field": by_field,
        "per_level": per_level,
        "seconds_per_side": {
            "p50": round(statistics.median(all_seconds), 3),
            "p95": round(_percentile(all_seconds, 0.95), 3),
            "max": round(max(all_seconds), 3),
        },
        "targets": {"confusable_accuracy_levels_0_2": 0.97, "p95_seconds_per_side": 1.5},
        "environment": {
            "cpus": os.cpu_count(),
            "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT"),
            "python": platform.python_version(),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def _tally(row: list[int], exact: bool, confusable: bool, flagged: bool) -> None:
    row[0] += 1
    row[1] += exact
    row[2] += confusable
    if not confusable:
        row[4] += 1
        row[3] += flagged
    else:
        row[5] += flagged


def main() -> int:
    """Parse arguments, run the benchmark, print JSON (or a short summary)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cards", type=int, default=200, help="cards to read (each has a front and a back)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first card")
    parser.add_argument("--levels", default="0,1,2,3", help="degradation levels, comma-separated")
    args = parser.parse_args()
    if not tesseract_available():
        print("tesseract is not installed; the OCR benchmark needs it", file=sys.stderr)
        return 2
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    if not levels or any(level not in DEGRADATION_LEVELS for level in levels):
        parser.error(f"levels must be among {sorted(DEGRADATION_LEVELS)}")
    result = run(args.cards, args.seed, levels)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        overall = result["overall_clean_to_moderate"]
        print(
            f"levels 0-2: {overall['confusable']:.3f} confusable-normalised, {overall['exact']:.3f} exact "
            f"over {overall['scored']} fields; p50 {result['seconds_per_side']['p50']} s, "
            f"p95 {result['seconds_per_side']['p95']} s per side"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
