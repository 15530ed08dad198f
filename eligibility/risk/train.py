"""Train the denial-risk model OFFLINE and write ``eligibility/risk/model.json``.

    python -m eligibility.risk.train            # writes the shipped model.json and prints metrics
    python -m eligibility.risk.train --check    # only prints metrics, writes nothing

Uses scikit-learn (a development dependency); the hub never imports this module at run time. Cases
come from the seeded generator in ``synthetic.py``; a separate seed gives the held-out test set.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from eligibility.risk.features import FEATURES, extract_features
from eligibility.risk.rules import RULES
from eligibility.risk.score import MODEL_PATH, Model, assess_features
from eligibility.risk.synthetic import SyntheticCase, generate_cases

TRAIN_SEED = 20260115
TEST_SEED = 20260116
TRAIN_CASES = 8000
TEST_CASES = 3000
REGULARIZATION_C = 1.0
BANDS = {"medium_from": 0.2, "high_from": 0.5}


def feature_matrix(cases: list[SyntheticCase]) -> list[list[float]]:
    """One row of feature values (in FEATURES order) per case."""
    rows = []
    for case in cases:
        values = extract_features(case.inputs)
        rows.append([values[name] for name in FEATURES])
    return rows


def train(seed: int = TRAIN_SEED, count: int = TRAIN_CASES) -> dict[str, Any]:
    """Fit the logistic regression and return the model document (without metrics)."""
    from sklearn.linear_model import LogisticRegression

    cases = generate_cases(count, seed)
    x = feature_matrix(cases)
    y = [int(case.denied) for case in cases]
    # Balanced weights keep rare causes from being drowned by the clean majority.
    fit = LogisticRegression(class_weight="balanced", C=REGULARIZATION_C, max_iter=2000, solver="lbfgs")
    fit.fit(x, y)
    base_rate = sum(y) / len(y)
    # Balanced weighting trains as if half the cases were denials; shift the intercept back to the
    # training base rate so the probability means what it says on data like the training data.
    prior_shift = math.log(base_rate / (1 - base_rate))
    return {
        "version": 1,
        "features": list(FEATURES),
        "coefficients": {name: round(float(c), 6) for name, c in zip(FEATURES, fit.coef_[0], strict=True)},
        "intercept": round(float(fit.intercept_[0]) + prior_shift, 6),
        "bands": BANDS,
        "training": {
            "generator": "eligibility.risk.synthetic.generate_cases",
            "seed": seed,
            "cases": count,
            "denial_rate": round(base_rate, 4),
            "class_weight": "balanced",
            "C": REGULARIZATION_C,
        },
    }


def evaluate(document: dict[str, Any], seed: int = TEST_SEED, count: int = TEST_CASES) -> dict[str, Any]:
    """Top-reason accuracy (cases with an injected cause) and AUC on a held-out seed."""
    model = Model(
        coefficients=document["coefficients"],
        intercept=document["intercept"],
        medium_from=document["bands"]["medium_from"],
        high_from=document["bands"]["high_from"],
    )
    cases = generate_cases(count, seed)
    scores: list[float] = []
    matched = with_cause = 0
    for case in cases:
        assessment = assess_features(extract_features(case.inputs), model)
        scores.append(assessment.probability)
        if case.cause is not None:
            with_cause += 1
            matched += int(assessment.top_cause == case.cause)
    return {
        "test_seed": seed,
        "test_cases": count,
        "cases_with_cause": with_cause,
        "top_reason_accuracy": round(matched / with_cause, 4),
        "auc": round(auc([int(c.denied) for c in cases], scores), 4),
    }


def auc(labels: list[int], scores: list[float]) -> float:
    """Area under the ROC curve by the rank-sum formula (ties share ranks)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    index = 0
    while index < len(order):
        end = index
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[index]]:
            end += 1
        for position in range(index, end + 1):
            ranks[order[position]] = (index + end) / 2 + 1
        index = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate, and write model.json unless --check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=MODEL_PATH)
    parser.add_argument("--check", action="store_true", help="print metrics without writing")
    args = parser.parse_args(argv)
    document = train()
    document["metrics"] = evaluate(document)
    missing = set(FEATURES) - set(RULES)
    if missing:
        print(f"features without a rule: {sorted(missing)}", file=sys.stderr)
        return 1
    print(json.dumps(document["metrics"], indent=2))
    if not args.check:
        args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
