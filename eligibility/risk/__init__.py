"""Denial risk before the visit: rules that name causes, weighted by a logistic model shipped as JSON."""

from eligibility.risk.features import FEATURES, RiskInputs, extract_features
from eligibility.risk.rules import RULES, Rule
from eligibility.risk.score import Model, Reason, RiskAssessment, assess, load_model

__all__ = [
    "FEATURES",
    "RULES",
    "Model",
    "Reason",
    "RiskAssessment",
    "RiskInputs",
    "Rule",
    "assess",
    "extract_features",
    "load_model",
]
