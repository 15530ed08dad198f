"""What to do after a rejected eligibility check, as data plus two small functions.

AAA 42 (payer cannot answer now) is worth retrying later; AAA 72/75 (member id invalid or not found)
is worth one more try with a confusable reading of the id, since OCR mixes O/0, I/1 and friends;
everything else needs a person to fix the request, so it is final.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise

from eligibility.x12.response import EligibilityResponse

# Pairs OCR confuses on insurance cards. Each maps both ways.
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (("O", "0"), ("I", "1"), ("S", "5"), ("B", "8"), ("Z", "2"), ("G", "6"))
_SWAP = {a: b for a, b in CONFUSABLE_PAIRS} | {b: a for a, b in CONFUSABLE_PAIRS}

RETRY_LATER = "retry_later"
RETRY_WITH_MEMBER_ID = "retry_with_member_id"
FINAL = "final"
DONE = "done"
WAIT_FOR_ANSWER = "wait_for_answer"


@dataclass(frozen=True)
class RetryRule:
    """How one AAA reason is retried: by waiting, by trying another member id, or not at all."""

    action: str
    max_attempts: int
    base_delay_seconds: int = 0
    max_delay_seconds: int = 0


RETRY_POLICY: dict[str, RetryRule] = {
    "42": RetryRule(RETRY_LATER, max_attempts=4, base_delay_seconds=60, max_delay_seconds=15 * 60),
    "80": RetryRule(RETRY_LATER, max_attempts=3, base_delay_seconds=60, max_delay_seconds=10 * 60),
    "72": RetryRule(RETRY_WITH_MEMBER_ID, max_attempts=3),
    "75": RetryRule(RETRY_WITH_MEMBER_ID, max_attempts=3),
}
MAX_MEMBER_ID_VARIANTS = 2


@dataclass(frozen=True)
class RetryDecision:
    """The next step: ``done`` (an answer), ``retry_later`` (after the delay), ``retry_with_member_id``,
    ``wait_for_answer`` (an accepted 999/TA1: the 271 comes separately), or ``final`` (a person must act)."""

    action: str
    reason_code: str = ""
    delay_seconds: int = 0
    member_id: str = ""


def backoff_seconds(rule: RetryRule, attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: doubling from the base, capped."""
    return min(rule.base_delay_seconds * 2 ** max(attempt - 1, 0), rule.max_delay_seconds)


def next_step(
    response: EligibilityResponse, *, attempt: int, member_id: str, tried_member_ids: Collection[str] = ()
) -> RetryDecision:
    """Decide the next step after attempt ``attempt`` (1-based) got ``response``.

    ``member_id`` is the id as first read (from the card or the typed form); ``tried_member_ids``
    are the ids already sent. Variants are always derived from the first reading.
    """
    if response.transaction == "271" and response.status in ("active", "inactive"):
        return RetryDecision(DONE)
    if response.transaction in ("999", "TA1") and response.accepted:
        return RetryDecision(WAIT_FOR_ANSWER)
    codes = [r.code for r in response.rejections]
    if response.transaction != "271":
        # A rejecting 999/TA1 means our 270 or envelope is wrong; sending it again changes nothing.
        return RetryDecision(FINAL, reason_code=codes[0] if codes else "")
    for code in codes:
        rule = RETRY_POLICY.get(code)
        if rule is None or attempt >= rule.max_attempts:
            continue
        if rule.action == RETRY_LATER:
            return RetryDecision(RETRY_LATER, reason_code=code, delay_seconds=backoff_seconds(rule, attempt))
        tried = {member_id, *tried_member_ids}
        for variant in member_id_variants(member_id):
            if variant not in tried:
                return RetryDecision(RETRY_WITH_MEMBER_ID, reason_code=code, member_id=variant)
    return RetryDecision(FINAL, reason_code=codes[0] if codes else "")


def member_id_variants(member_id: str, limit: int = MAX_MEMBER_ID_VARIANTS) -> list[str]:
    """Confusable readings of ``member_id``, most plausible first, at most ``limit``; deterministic.

    Plausible means shaped like real ids (a letter prefix, then digits): candidates with fewer
    letter/digit switches come first, then left-to-right order breaks ties.
    """
    value = "".join(member_id.upper().split())
    candidates = [_shape_normalized(value)]
    candidates += [value[:i] + _SWAP[c] + value[i + 1 :] for i, c in enumerate(value) if c in _SWAP]
    unique: list[str] = []
    for candidate in candidates:
        if candidate != value and candidate not in unique:
            unique.append(candidate)
    ranked = sorted(enumerate(unique), key=lambda item: (_class_switches(item[1]), item[0]))
    return [candidate for _, candidate in ranked[:limit]]


def _kind(char: str) -> str:
    if char.isdigit():
        return "digit"
    return "letter" if char.isalpha() else ""


def _class_switches(value: str) -> int:
    kinds = [k for k in (_kind(c) for c in value) if k]
    return sum(1 for a, b in pairwise(kinds) if a != b)


def _shape_normalized(value: str) -> str:
    # A confusable character takes the kind of its nearest unambiguous neighbours when they agree.
    def neighbour(index: int, step: int) -> str:
        index += step
        while 0 <= index < len(value):
            if value[index] not in _SWAP and _kind(value[index]):
                return _kind(value[index])
            index += step
        return ""

    chars = list(value)
    for index, char in enumerate(value):
        if char not in _SWAP:
            continue
        kinds = {k for k in (neighbour(index, -1), neighbour(index, 1)) if k}
        if len(kinds) == 1 and kinds != {_kind(char)}:
            chars[index] = _SWAP[char]
    return "".join(chars)
