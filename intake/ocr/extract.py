"""Label-anchored field extraction from OCR words, with per-field confidence and confusable handling.

Works on words with positions, so a value may sit right of its label or under it. Plain text can be
turned into such words (`words_from_text`), which is how the extractors are tested without OCR.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from rapidfuzz import fuzz

from intake.ocr.confusables import (
    IdReading,
    compact,
    fold_confusables,
    repair_mbi,
    resolve_alnum_code,
    resolve_mbi,
    resolve_prefixed_id,
    to_digits,
)
from intake.ocr.payers import PayerList, default_payers, find_payer, normalize_payer_name
from intake.ocr.words import Box, Segment, Word, box_of, segments_from_words, vertical_overlap

FIELD_NAMES = (
    "payer_name",
    "member_id",
    "group_number",
    "plan_type",
    "subscriber_name",
    "rx_bin",
    "rx_pcn",
    "rx_group",
    "payer_id",
    "phone",
)
COPAY_KINDS = ("pcp", "specialist", "er", "urgent_care")
PLAN_TYPES = ("PPO", "HMO", "EPO", "POS", "HDHP")

# Below this a field goes to staff for confirmation even when nothing else looks wrong.
CONFIRM_BELOW = 0.80
# Tesseract word confidence (0-100) under which a field is worth a second, whitelisted read.
REREAD_BELOW = 90.0


@dataclass
class FieldReading:
    """One field's value, how sure we are, and where it was read (for a second read)."""

    value: str | None
    confidence: float = 0.0
    ambiguous: bool = False
    valid: bool = False
    ocr_conf: float = 0.0
    box: Box | None = None
    raw: str = ""
    alternatives: tuple[str, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        return self.value is not None and (self.ambiguous or self.confidence < CONFIRM_BELOW)


@dataclass
class Extraction:
    """All fields read from one side (or a whole card), and where to look again for unread values."""

    fields: dict[str, FieldReading] = field(default_factory=dict)
    copays: dict[str, tuple[int, float]] = field(default_factory=dict)
    missing_values: dict[str, list[Box]] = field(default_factory=dict)


# --- field rules ---------------------------------------------------------------------------------

# Words that start another field: a value stops before them.
_STOP_WORDS = re.compile(
    r"\b(?:MEMBER|SUBSCRIBER|GROUP|GRP|PLAN|RX(?:BIN|PCN|GRP|GROUP|ID)?|BIN|PCN|PAYER|NAME|ID|PCP|SPEC\w*|ER|UC|URGENT|"
    r"EMERGENCY|OFFICE|PRIMARY|COPAY|DEDUCTIBLE|EFFECTIVE|ISSUED?|DATE|PRODUCT|NETWORK|PHONE|"
    r"IDENTIFICATION|NUMBER)\b"
)
# Words before a label that turn it into another field's label ("PAYER ID" is not the member id).
_NOT_MEMBER = frozenset({"PAYER", "PAYOR", "RX", "GROUP", "GRP", "CLAIMS", "EDI", "TAX", "PROVIDER", "NPI", "PLAN"})
# Symbols OCR makes of letters in ids, which never contain them ("$" for S, "£" for E).
_ID_SYMBOLS = str.maketrans({"$": "S", "£": "E", "€": "E", "§": "S", "!": "I", "¢": "C", "|": "I"})


@dataclass(frozen=True)
class Rule:
    """How to find one field: its label, the shape of its value, and how to normalise that value."""

    name: str
    label: re.Pattern[str]
    value: re.Pattern[str]
    normalise: Callable[[str], tuple[str | None, IdReading | None]]
    max_words: int | None = 1  # None: every adjacent word (names, phone numbers)
    below: bool = True
    foreign: frozenset[str] = frozenset()
    ids: bool = True


def _normalise_member_id(raw: str) -> tuple[str | None, IdReading | None]:
    text = compact(raw)
    if not 5 <= len(text) <= 20 or not any(c.isdigit() for c in text):
        return None, None
    mbi = resolve_mbi(text) or repair_mbi(text)
    if mbi is not None and sum(c.isalpha() for c in mbi.value) >= 3:
        return mbi.value, mbi
    reading = resolve_prefixed_id(text)
    return reading.value, reading


def _normalise_code(min_length: int, max_length: int) -> Callable[[str], tuple[str | None, IdReading | None]]:
    def normalise(raw: str) -> tuple[str | None, IdReading | None]:
        text = compact(raw)
        if not min_length <= len(text) <= max_length:
            return None, None
        reading = resolve_alnum_code(text)
        return reading.value, reading

    return normalise


def _normalise_bin(raw: str) -> tuple[str | None, IdReading | None]:
    digits = to_digits(raw)
    if digits is None or len(digits) != 6:
        return None, None
    return digits, IdReading(
        value=digits, substitutions=sum(a != b for a, b in zip(digits, compact(raw), strict=False))
    )


def _normalise_phone(raw: str) -> tuple[str | None, IdReading | None]:
    digits = to_digits(re.sub(r"[()+]", "", raw))
    if digits is None:
        return None, None
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01":
        return None, None
    return digits, IdReading(value=digits)


_NAME_DIGITS = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G", "4": "A", "|": "I"})


def _normalise_name(raw: str) -> tuple[str | None, IdReading | None]:
    # Names hold no digits: a middle initial O read as 0 is still an O.
    name = raw.upper().translate(_NAME_DIGITS)
    name = re.sub(r"[^A-Z'\-. ]", "", name)
    name = " ".join(name.replace(".", " ").split())
    if len(name.split()) < 2 or len(name) < 5:
        return None, None
    return name, IdReading(value=name)


def _normalise_plan(raw: str) -> tuple[str | None, IdReading | None]:
    plan = _plan_keyword(raw)
    return (plan, IdReading(value=plan)) if plan else (None, None)


_PLAN_PATTERN = re.compile(
    r"(?<![A-Z0-9])(HDHP|P\s?P\s?[O0Q]|H\s?M\s?[O0Q]|E\s?P\s?[O0Q]|P\s?[O0Q]\s?[S5])(?![A-Z0-9])"
)


def _plan_keyword(text: str) -> str | None:
    match = _PLAN_PATTERN.search(text.upper())
    if not match:
        return None
    word = re.sub(r"\s", "", match.group(1)).replace("0", "O").replace("Q", "O")
    return word.replace("PO5", "POS")


_ID_LIKE = r"[A-Z0-9][A-Z0-9\- ]*"
RULES = (
    Rule(
        "member_id",
        re.compile(
            r"(?<![A-Z0-9])(?:(?:MEMBER|SUBSCRIBER|ENROLLEE|IDENTIFICATION|MEDICARE)\s*(?:[I1L]D|NUMBER|NO\b\.?|#)"
            r"|[I1L]D\s*(?:NUMBER|NO\b\.?|#)|IDENTIFICATION|MBI|[I1L]D)(?:\s*#)?(?![A-Z0-9])"
        ),
        re.compile(_ID_LIKE),
        _normalise_member_id,
        max_words=3,
        foreign=_NOT_MEMBER,
    ),
    Rule(
        "subscriber_name",
        re.compile(
            r"(?<![A-Z0-9])(?:(?:MEMBER|SUBSCRIBER|ENROLLEE|PATIENT|CARDHOLDER)\s*NAME|NAME(?:\s*/\s*NOMBRE)?"
            r"|MEMBER|SUBSCRIBER|ENROLLEE|CARDHOLDER)(?!\s*(?:[I1L]D\b|#|NUMBER|NO\b|SERVICE|SINCE))(?![A-Z0-9])"
        ),
        re.compile(r"[A-Z0-9][A-Z0-9'\-.| ]*[A-Z0-9]"),
        _normalise_name,
        max_words=None,
        ids=False,
    ),
    Rule(
        "group_number",
        re.compile(r"(?<![A-Z0-9])(?:GROUP|GR0UP|GRP)\s*(?:NUMBER|NO\b\.?|#|[I1L]D)?(?:\s*#)?(?![A-Z0-9])"),
        re.compile(r"[A-Z0-9][A-Z0-9\-]*"),
        _normalise_code(3, 15),
        foreign=frozenset({"RX"}),
    ),
    Rule(
        "plan_type",
        re.compile(r"(?<![A-Z0-9])(?:PLAN\s*TYPE|PLAN|PRODUCT|NETWORK)(?![A-Z0-9])"),
        re.compile(r"[A-Z0-9][A-Z0-9 ]*"),
        _normalise_plan,
        max_words=None,
        ids=False,
    ),
    Rule(
        "rx_bin",
        re.compile(r"(?<![A-Z0-9])(?:RX\s*X?\s*)?B[I1L]N(?:\s*#)?(?![A-Z0-9])"),
        re.compile(r"[0-9A-Z]{3}\s?[0-9A-Z]{3}\b|[0-9A-Z]+"),
        _normalise_bin,
        max_words=2,  # "610 279"
    ),
    Rule(
        "rx_pcn",
        re.compile(r"(?<![A-Z0-9])(?:RX\s*X?\s*)?P[CO0]N(?:\s*#)?(?![A-Z0-9])"),
        re.compile(r"[A-Z0-9][A-Z0-9\-]*"),
        _normalise_code(1, 10),
    ),
    Rule(
        "rx_group",
        re.compile(r"(?<![A-Z0-9])RX\s*X?\s*(?:GRP|GR0UP|GROUP)(?:\s*#)?(?![A-Z0-9])"),
        re.compile(r"[A-Z0-9][A-Z0-9\-]*"),
        _normalise_code(1, 15),
    ),
    Rule(
        "payer_id",
        re.compile(r"(?<![A-Z0-9])PAY[EO]R\s*(?:[I1L]D|I\.D\.|#|NUMBER|NO\b\.?)(?:\s*#)?(?![A-Z0-9])"),
        re.compile(r"[A-Z0-9][A-Z0-9\-]*"),
        _normalise_code(5, 10),
    ),
    Rule(
        "phone",
        re.compile(r"(?<![A-Z0-9])(?:MEMBER|CUSTOMER)\s*SERVICES?(?:\s*LINE)?(?![A-Z0-9])"),
        re.compile(r"[0-9A-Z(][0-9A-Z()\-. ]{8,18}[0-9A-Z]"),
        _normalise_phone,
        max_words=None,
        below=False,
    ),
)
RULES_BY_NAME = {rule.name: rule for rule in RULES}

_COPAY_LABELS = (
    ("urgent_care", r"URGENT\s*CARE|URGENT|UC"),
    ("pcp", r"PCP|OFFICE\s*VISIT|PRIMARY\s*CARE|PRIMARY|OV"),
    ("specialist", r"SPECIALIST|SPEC|SPC|SP"),
    ("er", r"EMERGENCY\s*ROOM|EMERGENCY|ER"),
)
_COPAY_LABEL = re.compile(
    r"(?<![A-Z0-9])(" + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _COPAY_LABELS) + r")(?![A-Z0-9])"
)
_MONEY = re.compile(r"^\s*[:\-]?\s*([$S§]?)\s?(\d{1,4}|[0-9OIS]{1,4})(?:[.,](\d{2}|[0-9O]{2}))?(?![0-9])")
_PHONE_ANYWHERE = re.compile(r"(?:1[\s.\-]?)?\(?[2-9]\d{2}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}")


# --- extraction ----------------------------------------------------------------------------------


def _value_from(rule: Rule, segment: Segment, start: int) -> tuple[str, list[Word]] | None:
    """The value text (and its words) starting at `start` in a segment, stopping at the next label."""
    rest = segment.text[start:]
    lead = len(rest) - len(rest.lstrip(" :#.,-|"))
    rest = rest[lead:]
    if rule.ids:
        rest = rest.translate(_ID_SYMBOLS)
    stop = _STOP_WORDS.search(rest)
    if stop and stop.start() == 0:
        return None  # straight into another label: this one's value is elsewhere
    if stop:
        rest = rest[: stop.start()]
    match = rule.value.match(rest)
    if not match:
        return None
    begin = start + lead
    words = segment.words_between(begin + match.start(), begin + match.end())
    if not words:
        return None
    words = _adjacent(words[: rule.max_words] if rule.max_words else words)
    text = " ".join(w.text.upper() for w in words)
    if rule.ids:
        text = text.translate(_ID_SYMBOLS)
    return text, words


def _adjacent(words: list[Word]) -> list[Word]:
    """Keep chunks of one value: stop at a gap wider than a letter or two."""
    kept = [words[0]]
    for previous, word in itertools.pairwise(words):
        if word.left - previous.right > 1.2 * max(previous.height, word.height):
            break
        kept.append(word)
    return kept


def _reading(rule: Rule, text: str, words: list[Word], place_penalty: float) -> FieldReading | None:
    value, id_reading = rule.normalise(text)
    if value is None or id_reading is None:
        return None
    confidences = [w.conf for w in words if w.conf >= 0]
    ocr = min(confidences) if confidences else 0.0
    return _scored(
        FieldReading(
            value=value,
            valid=id_reading.shape_valid,
            ambiguous=id_reading.ambiguous,
            ocr_conf=ocr,
            box=box_of(words),
            raw=text,
            alternatives=id_reading.alternatives,
        ),
        substitutions=id_reading.substitutions,
        place_penalty=place_penalty,
    )


def _scored(reading: FieldReading, *, substitutions: int = 0, place_penalty: float = 1.0) -> FieldReading:
    """Combine word confidence, pattern validity and how much we had to correct into one score."""
    score = reading.ocr_conf / 100
    if not reading.valid:
        score *= 0.6
    if substitutions:
        score *= 0.93
    if reading.ambiguous:
        score *= 0.8
    reading.confidence = round(max(0.0, min(1.0, score * place_penalty)), 2)
    return reading


def _neighbours(
    segment: Segment, segments: list[Segment], label_words: list[Word], *, below: bool
) -> list[tuple[Segment, float]]:
    """Segments that may hold a label's value when the label ends its own: to the right, then below."""
    label = box_of(label_words)
    height = label.bottom - label.top
    found: list[tuple[Segment, float]] = []
    for other in segments:
        if other is segment or other.left < label.right:
            continue
        if vertical_overlap(label_words[-1], other.words[0]) >= 0.5 and other.left - label.right < 12 * height:
            found.append((other, 0.97))
            break
    if below:
        for other in segments:
            under = 0 <= other.top - label.bottom < 1.6 * height
            aligned = label.left - 1.5 * height <= other.left <= label.left + 4 * height
            if under and aligned:
                found.append((other, 0.95))
    return found


def _foreign_label(segment: Segment, start: int, foreign: frozenset[str]) -> bool:
    """Whether the word before a label makes it another field's label ("RX GRP", "PAYER ID")."""
    before = segment.text[:start].split()
    if not before:
        return False
    word = before[-1].rstrip(":#.")
    # "Rx" is short and often misread ("=X", "BX"); one stray character before the X is still Rx.
    return word in foreign or ("RX" in foreign and len(word) <= 2 and word.endswith("X"))


def _free_regions(segment: Segment, segments: list[Segment], label_words: list[Word], below: bool) -> list[Box]:
    """Where a label's unread value should be: right of the label up to the next text, and under it."""
    label = box_of(label_words)
    height = label.bottom - label.top
    regions = []
    right_limit = label.right + 12 * height
    for other in segments:
        overlaps = other.top < label.bottom and other.bottom > label.top
        if other is not segment and overlaps and other.left > label.right:
            right_limit = min(right_limit, other.left - height // 3)
    if right_limit - label.right > 2 * height:
        regions.append(Box(label.right + max(2, height // 8), label.top, right_limit, label.bottom))
    if below:
        top, bottom = label.bottom + height // 4, label.bottom + 2 * height
        right_limit = label.left + 12 * height
        for other in segments:
            overlaps = other.top < bottom and other.bottom > top
            if overlaps and other.left > label.left + height:
                right_limit = min(right_limit, other.left - height // 3)
        regions.append(Box(max(0, label.left - height // 3), top, right_limit, bottom))
    return regions


def extract_rule(rule: Rule, segments: list[Segment]) -> tuple[FieldReading | None, list[Box]]:
    """Best reading of one field; failing that, the regions where its label says the value is."""
    candidates: list[FieldReading] = []
    regions: list[Box] = []
    for segment in segments:
        for label in rule.label.finditer(segment.text):
            if _foreign_label(segment, label.start(), rule.foreign):
                continue
            label_words = segment.words_between(label.start(), label.end())
            if not label_words:
                continue
            if segment.text[label.end() :].strip(" :#.-|"):
                value = _value_from(rule, segment, label.end())
                reading = _reading(rule, *value, place_penalty=1.0) if value else None
                if reading:
                    candidates.append(reading)
                else:
                    # Something follows the label but does not read as a value: read those pixels again.
                    after = [w for w in segment.words if w.left >= label_words[-1].right]
                    if after:
                        regions.append(box_of(after[: rule.max_words or len(after)]))
                continue
            found = False
            for other, penalty in _neighbours(segment, segments, label_words, below=rule.below):
                value = _value_from(rule, other, 0)
                reading = _reading(rule, *value, place_penalty=penalty) if value else None
                if reading:
                    candidates.append(reading)
                    found = True
            if not found:
                regions.extend(_free_regions(segment, segments, label_words, rule.below))
    if not candidates:
        return None, regions
    return max(candidates, key=lambda r: (r.valid, r.confidence)), []


def _plan_anywhere(segments: list[Segment]) -> FieldReading | None:
    """A plan keyword printed on its own (a badge in the header), when no label points at one."""
    for segment in segments:
        match = _PLAN_PATTERN.search(segment.text)
        if match:
            words = segment.words_between(match.start(), match.end())
            plan = _plan_keyword(match.group(1))
            if plan and words:
                ocr = min(w.conf for w in words)
                return _scored(
                    FieldReading(value=plan, valid=True, ocr_conf=ocr, box=box_of(words), raw=match.group(1)),
                    place_penalty=0.95,
                )
    return None


_NAME_LIKE = re.compile(r"^[A-Z][A-Z'\-]*(?: [A-Z][A-Z'\-.]*){1,3}$")
_LABEL_WORDS = re.compile(
    r"\b(?:MEMBER|SUBSCRIBER|ID|NUMBER|GROUP|GRP|PLAN|RX\w*|BIN|PCN|PAYER|NAME|PCP|SPEC\w*|ER|UC|URGENT|"
    r"EMERGENCY|OFFICE|VISIT|PRIMARY|CARE|COPAY|PRODUCT|NETWORK|SERVICES?|PHARMACY|HEALTH|INSURANCE|MEDICARE|"
    r"MEDICAID|BENEFITS|CARD|HOSPITAL|MEDICAL|PART|ENTITLED|COVERAGE|STARTS|EFFECTIVE|DATE)\b"
)


def _unlabelled_name(segments: list[Segment], payers: PayerList) -> FieldReading | None:
    """A name printed without a label (or whose label was not read): the first line that looks like one."""
    for segment in segments:
        text = segment.text.strip()
        if not _NAME_LIKE.match(text) or _LABEL_WORDS.search(text) or _PLAN_PATTERN.search(text):
            continue
        if find_payer(text, payers=payers).score >= 75:
            continue
        value, reading = _normalise_name(text)
        if value and reading:
            ocr = min(w.conf for w in segment.words)
            # Unlabelled, so staff confirm it.
            return _scored(
                FieldReading(value=value, valid=True, ocr_conf=ocr, box=box_of(segment.words), raw=text),
                place_penalty=0.75,
            )
    return None


def _phone_anywhere(segments: list[Segment]) -> FieldReading | None:
    """The first phone number not labelled for providers or pharmacies, when none is labelled for members."""
    for segment in segments:
        if re.search(r"PROVIDER|PHARMAC|NURSE|CLAIMS|HOSPITAL|BEHAVIORAL", segment.text):
            continue
        match = _PHONE_ANYWHERE.search(segment.text)
        if match:
            value, reading = _normalise_phone(match.group())
            words = segment.words_between(match.start(), match.end())
            if value and reading and words:
                ocr = min(w.conf for w in words)
                return _scored(
                    FieldReading(value=value, valid=True, ocr_conf=ocr, box=box_of(words), raw=match.group()),
                    place_penalty=0.85,
                )
    return None


def _parse_money(text: str) -> tuple[int, bool] | None:
    """Cents from the start of `text` ("$25", "$7.50", "S25"), and whether a dollar sign was read."""
    money = _MONEY.match(text)
    if not money:
        return None
    sign, dollars_text, cents_text = money.groups()
    dollars = to_digits(dollars_text)
    cents = to_digits(cents_text) if cents_text else "00"
    if dollars is None or cents is None:
        return None
    return int(dollars) * 100 + int(cents), bool(sign)


def _same_row_right(segment: Segment, segments: list[Segment], label_words: list[Word]) -> Segment | None:
    """The nearest segment right of a label on the same text row."""
    label = label_words[-1]
    best: Segment | None = None
    for other in segments:
        if other is segment or other.left <= label.right:
            continue
        if vertical_overlap(label, other.words[0]) >= 0.5 and (best is None or other.left < best.left):
            best = other
    return best


def extract_copays(segments: list[Segment]) -> dict[str, tuple[int, float]]:
    """Copays as integer cents with a confidence, from "PCP $25"-style pairs anywhere on the card."""
    found: dict[str, tuple[int, float]] = {}
    for segment in segments:
        for label in _COPAY_LABEL.finditer(segment.text):
            kind = next(k for k, _ in _COPAY_LABELS if label.group(k))
            if kind in found:
                continue
            label_words = segment.words_between(label.start(), label.end())
            after = segment.text[label.end() :]
            amount_words: list[Word] = []
            parsed = _parse_money(after) if after.strip() else None
            if parsed:
                amount_words = segment.words_between(label.end(), len(segment.text))[:1]
            elif not after.strip(" :-") and label_words:
                # A table: the amount sits in its own column to the right.
                neighbour = _same_row_right(segment, segments, label_words)
                if neighbour is not None:
                    parsed = _parse_money(neighbour.text)
                    amount_words = neighbour.words[:1]
            if not parsed:
                continue
            cents, had_sign = parsed
            conf = min((w.conf for w in [*label_words, *amount_words]), default=0.0) / 100
            if not had_sign:
                conf *= 0.85  # "$25" read without its sign may be a "525" that lost it
            found[kind] = (cents, round(conf, 2))
    return found


def _payer_name(
    segments: list[Segment], payers: PayerList, page_height: int | None
) -> tuple[FieldReading | None, int | None]:
    """The printed payer or plan name: the header words that best match our payer list."""
    if not segments:
        return None, None
    limit = (page_height or max(s.bottom for s in segments)) * 0.4
    best: tuple[float, float, int, FieldReading] | None = None
    for index, segment in enumerate(segments):
        if segment.top > limit or sum(c.isalpha() for c in segment.text) < 3:
            continue
        words, score = _best_name_span(segment.words, payers)
        if not words:
            continue
        text = " ".join(w.text.upper() for w in words)
        ocr = min(w.conf for w in words)
        reading = FieldReading(value=text, valid=score >= 75, ocr_conf=ocr, box=box_of(words), raw=text)
        reading.confidence = round(min(1.0, ocr / 100) * (score / 100 if score else 0.5), 2)
        key = (score, segment.height)
        if best is None or key > best[:2]:
            best = (key[0], key[1], index, reading)
    if best is None:
        return None, None
    # A line that matches no payer is reported, but stays available to the other fields' rules.
    return best[3], best[2] if best[0] >= 75 else None


def header_payer_name(words: Iterable[Word], *, page_height: int) -> FieldReading | None:
    """The payer name among words read from the top of a card."""
    reading, _ = _payer_name(segments_from_words(words), default_payers(), page_height)
    return reading


def _best_name_span(words: list[Word], payers: PayerList) -> tuple[list[Word], float]:
    """The run of words that matches a payer best: OCR makes stray letters of a logo beside the name.

    Spans are ranked by match score, then by how closely they spell the alias they matched, so
    "OC) SELECTHEALTH" gives way to "SELECTHEALTH" while "... PLAN PPO" keeps its last word.
    """
    words = [w for w in words if re.search(r"[A-Za-z]{2,}|&", w.text)]
    while len(words) > 1 and len(re.sub(r"[^A-Za-z0-9]", "", words[0].text)) < 3:
        words = words[1:]  # a logo read as "C)" or "OC"
    best: tuple[float, float, list[Word]] = (0.0, 0.0, words)
    for start in range(min(3, len(words))):
        for end in range(len(words), max(start, len(words) - 3), -1):
            span = words[start:end]
            if not span:
                continue
            text = " ".join(re.sub(r"^[^A-Za-z0-9&]+|[^A-Za-z0-9&]+$", "", w.text) for w in span)
            found = find_payer(text, payers=payers)
            closeness = fuzz.ratio(normalize_payer_name(text), found.alias) if found.payer else 0.0
            if (found.score, closeness) > best[:2]:
                best = (found.score, closeness, span)
    return best[2], best[0]


def extract_fields(
    words: Iterable[Word], *, side: str = "front", page_height: int | None = None, payers: PayerList | None = None
) -> Extraction:
    """Read every field a card side may carry from its OCR words."""
    segments = segments_from_words(words)
    result = Extraction()
    if side == "front":
        payer_reading, header_index = _payer_name(segments, payers or default_payers(), page_height)
        if payer_reading:
            result.fields["payer_name"] = payer_reading
    else:
        header_index = None
    # The payer's own name may hold a label word ("... Health Plan PPO"): keep it out of the rules.
    body = [segment for index, segment in enumerate(segments) if index != header_index]
    for rule in RULES:
        reading, regions = extract_rule(rule, body)
        if reading:
            result.fields[rule.name] = reading
        elif regions:
            result.missing_values[rule.name] = regions
    if "plan_type" not in result.fields:
        # A badge, or failing that a plan name that carries its product type ("Choice POS II").
        plan = _plan_anywhere(body) or _plan_anywhere(segments)
        if plan:
            result.fields["plan_type"] = plan
            result.missing_values.pop("plan_type", None)
    if "subscriber_name" not in result.fields and side == "front":
        name = _unlabelled_name(body, payers or default_payers())
        if name:
            result.fields["subscriber_name"] = name
            result.missing_values.pop("subscriber_name", None)
    if "phone" not in result.fields and side == "back":
        phone = _phone_anywhere(segments)
        if phone:
            result.fields["phone"] = phone
    result.copays = extract_copays(body)
    return result


def merge_readings(first: FieldReading | None, second: FieldReading | None) -> FieldReading | None:
    """Combine two reads of one field: agreement raises confidence, a confusable-only difference flags it."""
    if first is None or second is None:
        return first or second
    if first.value == second.value:
        merged = first if first.confidence >= second.confidence else second
        boosted = min(1.0, max(first.confidence, second.confidence) + 0.1)
        return replace(merged, confidence=round(boosted, 2), ambiguous=first.ambiguous and second.ambiguous)
    if first.value and second.value and fold_confusables(first.value) == fold_confusables(second.value):
        winner = first if (first.valid, first.confidence) >= (second.valid, second.confidence) else second
        loser = second if winner is first else first
        alternatives = tuple(dict.fromkeys((*winner.alternatives, loser.value or "")))
        return replace(winner, ambiguous=True, alternatives=tuple(a for a in alternatives if a and a != winner.value))
    # Ties go to the second read: it saw only the value, through a character whitelist.
    winner = first if (first.valid, first.confidence) > (second.valid, second.confidence) else second
    return replace(winner, confidence=round(winner.confidence * 0.8, 2))
