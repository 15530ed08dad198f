"""X12 005010X279A1 eligibility: build 270s, read 271/999/TA1 answers, summarise, decide retries."""

from eligibility.x12.build import Built270, EnvelopeOptions, build_270
from eligibility.x12.errors import FieldProblem, RequestValidationError, X12ParseError
from eligibility.x12.read import parse_response
from eligibility.x12.request import (
    Dependent,
    EligibilityRequest,
    Payer,
    Provider,
    Subscriber,
    normalize_request,
    npi_is_valid,
    request_from_dict,
)
from eligibility.x12.response import Benefit, EligibilityResponse, Identity, Rejection
from eligibility.x12.retry import RetryDecision, member_id_variants, next_step
from eligibility.x12.syntax import Delimiters, detect_delimiters

__all__ = [
    "Benefit",
    "Built270",
    "Delimiters",
    "Dependent",
    "EligibilityRequest",
    "EligibilityResponse",
    "EnvelopeOptions",
    "FieldProblem",
    "Identity",
    "Payer",
    "Provider",
    "Rejection",
    "RequestValidationError",
    "RetryDecision",
    "Subscriber",
    "X12ParseError",
    "build_270",
    "detect_delimiters",
    "member_id_variants",
    "next_step",
    "normalize_request",
    "npi_is_valid",
    "parse_response",
    "request_from_dict",
]
