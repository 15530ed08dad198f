"""Letters and digits OCR mixes up (O/0, I/1, S/5, B/8 …), and how id fields resolve them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# For comparing two readings: every confusable folded to its digit.
_FOLD = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2", "G": "6"}
DIGIT_TO_LETTER = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
# How cheaply each swap explains a misreading: O/0 is the commonest mix-up in DejaVu and most
# card fonts, B/8 and G/6 much rarer. Lower means more plausible.
_SWAP_COST = {"O": 0.5, "0": 0.5, "Q": 0.7, "D": 0.9, "I": 0.6, "1": 0.6, "L": 0.8, "S": 0.8, "5": 0.8,
              "B": 0.9, "8": 0.9, "Z": 0.9, "2": 0.9, "G": 0.9, "6": 0.9}  # fmt: skip
# Two readings whose swap costs differ by less than this are equally plausible: staff must look.
AMBIGUITY_MARGIN = 0.3

MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"
MBI_PATTERN = re.compile(
    r"^[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]{2}\d{2}$"
)
# Position kinds in an MBI: C = 1-9, N = digit, A = MBI letter, X = MBI letter or digit.
_MBI_SHAPE = "CAXNAXNAANN"


@dataclass(frozen=True)
class IdReading:
    """An id after confusable resolution: the chosen value, other plausible values, and how sure we are."""

    value: str
    ambiguous: bool = False
    substitutions: int = 0
    alternatives: tuple[str, ...] = field(default_factory=tuple)
    shape_valid: bool = True


def compact(text: str) -> str:
    """Upper-case and drop the spaces, dashes and dots cards print inside ids."""
    return re.sub(r"[\s.\-_/]+", "", text.upper())


def fold_confusables(text: str) -> str:
    """Map every confusable to one representative so two readings can be compared."""
    return compact(text).translate(_FOLD)


def to_digits(text: str) -> str | None:
    """Read a digits-only value, turning look-alike letters into digits; None if other letters remain."""
    mapped = "".join(LETTER_TO_DIGIT.get(char, char) for char in compact(text))
    return mapped if mapped.isdigit() else None


def _as_letter(char: str) -> tuple[str, float] | None:
    if char.isalpha():
        return char, 0.0
    if char in DIGIT_TO_LETTER:
        return DIGIT_TO_LETTER[char], _SWAP_COST[char]
    return None


def _as_digit(char: str) -> tuple[str, float] | None:
    if char.isdigit():
        return char, 0.0
    if char in LETTER_TO_DIGIT:
        return LETTER_TO_DIGIT[char], _SWAP_COST[char]
    return None


def resolve_prefixed_id(raw: str, *, max_prefix: int = 3, min_digits: int = 5) -> IdReading:
    """Resolve an id shaped as up to `max_prefix` letters then digits, the commonest member-id shape.

    Tries every split between the letter prefix and the digit tail, prices each by how plausible its
    swaps are, and keeps the cheapest; a second split nearly as cheap makes the reading ambiguous.
    """
    text = compact(raw)
    readings: list[tuple[float, int, str]] = []
    for split in range(0, min(max_prefix, len(text)) + 1):
        if len(text) - split < min_digits:
            break
        chars: list[str] = []
        cost, swaps = 0.0, 0
        for position, char in enumerate(text):
            converted = _as_letter(char) if position < split else _as_digit(char)
            if converted is None:
                break
            chars.append(converted[0])
            cost += converted[1]
            swaps += converted[0] != char
        else:
            readings.append((cost, swaps, "".join(chars)))
    if not readings:
        # Not the letters-then-digits shape: keep what was read, and say so.
        return IdReading(value=text, ambiguous=any(c in _SWAP_COST for c in text), shape_valid=False)
    readings.sort()
    best_cost, best_swaps, best = readings[0]
    rivals = tuple(dict.fromkeys(value for cost, _, value in readings[1:] if cost - best_cost < AMBIGUITY_MARGIN))
    rivals = tuple(value for value in rivals if value != best)
    return IdReading(value=best, ambiguous=bool(rivals), substitutions=best_swaps, alternatives=rivals)


def resolve_mbi(raw: str) -> IdReading | None:
    """Resolve a Medicare Beneficiary Identifier position by position; None if it cannot be one.

    The MBI alphabet has no S, L, O, I, B or Z, so at a digit-or-letter position those letters can
    only be digits: those swaps are safe. A digit at a letter-only position is not.
    """
    text = compact(raw)
    if len(text) != len(_MBI_SHAPE):
        return None
    chars: list[str] = []
    ambiguous = False
    swaps = 0
    for char, kind in zip(text, _MBI_SHAPE, strict=True):
        choice = char
        if kind in "CN" and not char.isdigit():
            choice = LETTER_TO_DIGIT.get(char, char)
        elif kind == "A" and char not in MBI_LETTERS:
            letter = DIGIT_TO_LETTER.get(char, char)
            if letter == "G" or letter in MBI_LETTERS:
                choice = letter
            else:
                # "0" at a letter position is not O (never used) but could be D or Q: say we don't know.
                choice = {"0": "D", "O": "D"}.get(char, char)
                ambiguous = True
        elif kind == "X" and char not in MBI_LETTERS and not char.isdigit():
            choice = LETTER_TO_DIGIT.get(char, char)
        swaps += choice != char
        chars.append(choice)
    value = "".join(chars)
    if not MBI_PATTERN.match(value):
        return None
    return IdReading(value=value, ambiguous=ambiguous, substitutions=swaps)


def repair_mbi(raw: str) -> IdReading | None:
    """An MBI read with one character doubled ("6FQO0D68EP90"): drop one of a look-alike pair.

    Tesseract's line model sometimes reads one glyph as two similar ones. An MBI has a fixed
    length, so a one-too-long reading with such a pair can be repaired; the result is always
    flagged for confirmation.
    """
    text = compact(raw)
    if len(text) != len(_MBI_SHAPE) + 1:
        return None
    options: list[tuple[int, str]] = []
    for index in range(len(text) - 1):
        if fold_confusables(text[index]) == fold_confusables(text[index + 1]):
            for drop in (index, index + 1):
                reading = resolve_mbi(text[:drop] + text[drop + 1 :])
                if reading is not None:
                    options.append((reading.substitutions, reading.value))
    # The repair that needs the fewest further swaps explains the reading best.
    values = list(dict.fromkeys(value for _, value in sorted(options)))
    if not values:
        return None
    return IdReading(value=values[0], ambiguous=True, substitutions=1, alternatives=tuple(values[1:]))


def looks_like_mbi(raw: str) -> bool:
    """Whether a reading fits the MBI shape once its safe swaps are made."""
    reading = resolve_mbi(raw)
    return reading is not None and not reading.ambiguous


def resolve_alnum_code(raw: str) -> IdReading:
    """Resolve a short code (group, RxPCN, RxGRP, payer id): letters, digits, or letters then digits."""
    text = compact(raw)
    reading = resolve_prefixed_id(text, max_prefix=len(text), min_digits=0)
    if reading.shape_valid:
        return reading
    return IdReading(value=text, shape_valid=False)
