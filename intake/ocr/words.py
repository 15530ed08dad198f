"""OCR words with their boxes, and how they group into rows and columns of a card."""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Word:
    """One OCR'd word with its box (pixels) and Tesseract confidence (0-100)."""

    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def middle(self) -> float:
        return self.top + self.height / 2


@dataclass
class Segment:
    """Words on one row that belong together; a wide gap starts a new segment (a new column)."""

    words: list[Word]
    text: str = ""
    starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts, position = [], 0
        self.starts = []
        for word in self.words:
            self.starts.append(position)
            parts.append(word.text.upper())
            position += len(word.text) + 1
        self.text = " ".join(parts)

    @property
    def left(self) -> int:
        return min(w.left for w in self.words)

    @property
    def right(self) -> int:
        return max(w.right for w in self.words)

    @property
    def top(self) -> int:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> int:
        return max(w.bottom for w in self.words)

    @property
    def height(self) -> float:
        return statistics.median(w.height for w in self.words)

    def words_between(self, start: int, end: int) -> list[Word]:
        """The words overlapping the character span [start, end) of `text`."""
        return [
            word
            for word, offset in zip(self.words, self.starts, strict=True)
            if offset < end and offset + len(word.text) > start
        ]


@dataclass(frozen=True)
class Box:
    """A region of the page, for re-reading a field from pixels."""

    left: int
    top: int
    right: int
    bottom: int


_GLUED_LABEL = re.compile(r"(?<=[A-Z0-9])(?=RX(?:BIN|PCN|GRP|GROUP)|GROUP|PAYER)", re.IGNORECASE)


def _unglue(word: Word) -> list[Word]:
    """Split a word where OCR ran a value into the next label ("027098263RXPCN")."""
    cuts = [m.start() for m in _GLUED_LABEL.finditer(word.text)]
    if not cuts:
        return [word]
    pieces, start = [], 0
    per_char = word.width / max(len(word.text), 1)
    for end in [*cuts, len(word.text)]:
        left = word.left + round(start * per_char)
        pieces.append(replace(word, text=word.text[start:end], left=left, width=round((end - start) * per_char)))
        start = end
    return pieces


def vertical_overlap(a: Word, b: Word) -> float:
    """Vertical overlap of two words as a share of the shorter one."""
    shared = min(a.bottom, b.bottom) - max(a.top, b.top)
    return shared / max(1, min(a.height, b.height))


def segments_from_words(words: Iterable[Word], *, gap_factor: float = 1.6) -> list[Segment]:
    """Chain words left to right into rows, then split rows where a wide gap starts a new column.

    A word joins the row whose last word it overlaps most vertically, so a row may drift a little
    up or down across the card (a residual tilt) without breaking.
    """
    kept = (piece for w in words if w.text.strip() for piece in _unglue(w))
    pending = sorted(kept, key=lambda w: (w.left, w.top))
    rows: list[list[Word]] = []
    for word in pending:
        best_row, best_overlap = None, 0.5
        for row in rows:
            last = row[-1]
            if last.right > word.left + 0.5 * word.height:
                continue  # the row already reaches past this word: another line
            overlap = vertical_overlap(last, word)
            if overlap > best_overlap:
                best_row, best_overlap = row, overlap
        if best_row is None:
            rows.append([word])
        else:
            best_row.append(word)
    segments: list[Segment] = []
    for row in rows:
        height = statistics.median(w.height for w in row)
        current = [row[0]]
        for previous, word in itertools.pairwise(row):
            if word.left - previous.right > gap_factor * height:
                segments.append(Segment(current))
                current = []
            current.append(word)
        segments.append(Segment(current))
    segments.sort(key=lambda s: (s.top, s.left))
    return segments


def words_from_text(text: str, *, conf: float = 96.0, char_width: int = 20, line_height: int = 40) -> list[Word]:
    """Turn monospaced text into positioned words, so extractors can be tested without OCR."""
    words = []
    for row, line in enumerate(text.splitlines()):
        for match in re.finditer(r"\S+", line):
            words.append(
                Word(
                    text=match.group(),
                    conf=conf,
                    left=match.start() * char_width,
                    top=row * line_height,
                    width=len(match.group()) * char_width - 4,
                    height=round(line_height * 0.7),
                )
            )
    return words


def box_of(words: list[Word]) -> Box:
    """The smallest box around some words."""
    return Box(
        min(w.left for w in words), min(w.top for w in words), max(w.right for w in words), max(w.bottom for w in words)
    )
