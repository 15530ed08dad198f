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
- For ids, "exact_or_alternative" also counts a reading whose exact value is among the (at most
  two) alternatives we return, which the eligibility check retries on "subscriber not found".
- Errors are split into wrong values (shown to staff, so they should carry "needs confirmation")
  and missing values (nothing read; staff type them in).
- Seconds are wall time of `read_side` per image side: decode, preprocess, Tesseract, re-reads and
  extraction. By default one card at a time; `--workers 2` reads two at once to show the cost of
  sharing the two cores.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intake.ocr.cards import DEGRADATION_LEVELS, generate_card
from intake.ocr.confusables import compact, fold_confusables
from intake.ocr.extract import COPAY_KINDS, FIELD_NAMES
from intake.ocr.pipeline import tesseract_available
from intake.ocr.reader import CardReading, read_card

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


def _read_one(job: tuple[int, int]) -> tuple[int, dict[str, Any], CardReading]:
    """Generate and read one card (a top-level function, so worker processes can run it)."""
    card_seed, level = job
    card = generate_card(card_seed, level)
    return level, card.truth, read_card(card.front, card.back)


def run(cards: int, seed: int, levels: list[int], workers: int = 1) -> dict[str, Any]:
    """Generate and read `cards` cards spread over `levels`; return the figures as a dict."""
    # counts[level][field]: see _tally
    counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 7))
    spurious: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    payer_match: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    # Ids whose exact value is the reading or one of its alternatives (the 270 retry variants).
    with_alternatives: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seconds: dict[int, list[float]] = defaultdict(list)
    started = time.perf_counter()

    jobs = [(seed + index, levels[index % len(levels)]) for index in range(cards)]
    if workers > 1:
        # Cards read side by side, as a worker pool would: seconds per side then include contention.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_read_one, jobs, chunksize=4))
    else:
        results = [_read_one(job) for job in jobs]

    for level, truth, reading in results:
        seconds[level] += [reading.timings["front_seconds"], reading.timings["back_seconds"]]

        for field in FIELD_NAMES:
            predicted = reading.fields[field]
            if truth[field] is None:
                if predicted is not None:
                    spurious[level][field] += 1
                continue
            exact, confusable = _scores(field, predicted, truth[field])
            variants = [predicted, *reading.alternatives.get(field, [])]
            with_alternatives[level][field] += any(_scores(field, v, truth[field])[0] for v in variants if v)
            _tally(counts[level][field], predicted, exact, confusable, reading.needs_confirmation[field])
        for kind in COPAY_KINDS:
            if kind not in truth["copays"]:
                if kind in reading.fields["copays"]:
                    spurious[level]["copays"] += 1
                continue
            amount = reading.fields["copays"].get(kind)
            right = amount == truth["copays"][kind]
            _tally(counts[level]["copays"], amount, right, right, reading.needs_confirmation["copays"])
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
        total = [0] * 7
        for level in chosen:
            for field in fields:
                total = [a + b for a, b in zip(total, counts[level][field], strict=True)]
        matches = [payer_match[lv] for lv in chosen]
        return {
            "levels": list(chosen),
            "scored": total[0],
            "exact": _rate(total[1], total[0]),
            "confusable": _rate(total[2], total[0]),
            "payer_match": _rate(sum(m[1] for m in matches), sum(m[0] for m in matches)),
            # Errors split into a wrong value shown to staff and a value not read at all, and how
            # well "needs confirmation" points staff at the wrong ones (and what it costs them).
            "wrong_values": total[3],
            "wrong_values_flagged": _rate(total[4], total[3]),
            "missing_values": total[5],
            "right_values_flagged": _rate(total[6], total[2]),
        }

    all_seconds = [s for level in levels for s in seconds[level]]
    by_field: dict[str, Any] = {}
    for field in fields:
        row = {}
        for level in levels:
            scored, exact, confusable = counts[level][field][:3]
            if scored:
                row[str(level)] = {"exact": _rate(exact, scored), "confusable": _rate(confusable, scored)}
                if field in ID_FIELDS:
                    row[str(level)]["exact_or_alternative"] = _rate(with_alternatives[level][field], scored)
        by_field[field] = row

    return {
        "benchmark": "ocr",
        "cards": cards,
        "sides": len(all_seconds),
        "seed": seed,
        "workers": workers,
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


def _tally(row: list[int], predicted: object, exact: bool, confusable: bool, flagged: bool) -> None:
    # row: scored, exact, confusable, wrong values, wrong values flagged, missing, right values flagged
    row[0] += 1
    row[1] += exact
    row[2] += confusable
    if confusable:
        row[6] += flagged
    elif predicted is None:
        row[5] += 1
    else:
        row[3] += 1
        row[4] += flagged


def main() -> int:
    """Parse arguments, run the benchmark, print JSON (or a short summary)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cards", type=int, default=200, help="cards to read (each has a front and a back)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first card")
    parser.add_argument("--levels", default="0,1,2,3", help="degradation levels, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="cards read in parallel (default: one at a time)")
    args = parser.parse_args()
    if not tesseract_available():
        print("tesseract is not installed; the OCR benchmark needs it", file=sys.stderr)
        return 2
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    if not levels or any(level not in DEGRADATION_LEVELS for level in levels):
        parser.error(f"levels must be among {sorted(DEGRADATION_LEVELS)}")
    result = run(args.cards, args.seed, levels, workers=max(1, args.workers))
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
