"""Scoring at run time: the shipped JSON coefficients and plain Python. No scikit-learn here."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from eligibility.risk.features import FEATURES, RiskInputs, extract_features
from eligibility.risk.rules import BAND_ORDER, HIGH, LOW, MEDIUM, RULES

MODEL_PATH = Path(__file__).with_name("model.json")
TOP_REASONS = 3


@dataclass(frozen=True)
class Model:
    """Logistic coefficients per feature, the intercept, and the probability bands."""

    coefficients: dict[str, float]
    intercept: float
    medium_from: float = 0.2
    high_from: float = 0.5
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    """One reason shown to staff, with the CARCs it prevents and its share of the score (log-odds)."""

    code: str
    sentence: str
    carcs: tuple[str, ...]
    contribution: float


@dataclass(frozen=True)
class RiskAssessment:
    """The score of one visit: probability, band, top reasons, every rule that fired, the features."""

    probability: float
    band: str
    reasons: list[Reason]
    rules_fired: list[str]
    features: dict[str, float]

    @property
    def top_cause(self) -> str | None:
        """The cause category of the first reason (``auth``, ``identity``, ...), if any."""
        return RULES[self.reasons[0].code].cause if self.reasons else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def load_model(path: Path | str = MODEL_PATH) -> Model:
    """Read coefficients from JSON; a feature the file lacks weighs zero."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    coefficients = {name: float(data["coefficients"].get(name, 0.0)) for name in FEATURES}
    bands = data.get("bands", {})
    return Model(
        coefficients=coefficients,
        intercept=float(data["intercept"]),
        medium_from=float(bands.get("medium_from", 0.2)),
        high_from=float(bands.get("high_from", 0.5)),
        metrics=dict(data.get("metrics", {})),
    )


@lru_cache(maxsize=1)
def _shipped_model() -> Model:
    return load_model(MODEL_PATH)


def assess(inputs: RiskInputs, model: Model | None = None) -> RiskAssessment:
    """Score one visit: rules fire on their features, the model weighs them, the top three explain it."""
    return assess_features(extract_features(inputs), model)


def assess_features(features: dict[str, float], model: Model | None = None) -> RiskAssessment:
    """Score a feature vector already extracted (used by training and evaluation)."""
    model = model or _shipped_model()
    contributions = {name: model.coefficients.get(name, 0.0) * value for name, value in features.items()}
    log_odds = model.intercept + sum(contributions.values())
    probability = 1.0 / (1.0 + math.exp(-log_odds))
    fired = [name for name in FEATURES if features.get(name, 0.0) > 0]
    # Only what pushed the risk up explains it; ties keep the catalogue order, so output is stable.
    ranked = sorted(
        (name for name in fired if contributions[name] > 0),
        key=lambda name: (-contributions[name], FEATURES.index(name)),
    )
    reasons = [
        Reason(name, RULES[name].sentence, RULES[name].carcs, round(contributions[name], 4))
        for name in ranked[:TOP_REASONS]
    ]
    band = LOW if probability < model.medium_from else MEDIUM if probability < model.high_from else HIGH
    for name in fired:
        # A fired rule sets a floor: a missing authorization is never "low" whatever the weights say.
        if BAND_ORDER[RULES[name].floor] > BAND_ORDER[band]:
            band = RULES[name].floor
    return RiskAssessment(
        probability=round(probability, 4),
        band=band,
        reasons=reasons,
        rules_fired=fired,
        features=dict(features),
    )
