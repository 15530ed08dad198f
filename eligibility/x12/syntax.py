"""Delimiters and segments: the X12 layer below any transaction set."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eligibility.x12.errors import X12ParseError

ISA_LENGTH = 106
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")


@dataclass(frozen=True)
class Delimiters:
    """The four separators of one interchange (ISA byte 3, ISA11, ISA16, the byte after ISA16)."""

    element: str = "*"
    repetition: str | None = "^"
    component: str = ":"
    segment: str = "~"


DEFAULT_DELIMITERS = Delimiters()


@dataclass(frozen=True)
class Segment:
    """One segment: its id, its elements (index 1 = first element) and its 1-based position."""

    elements: tuple[str, ...]
    position: int

    @property
    def id(self) -> str:
        """The segment id, e.g. ``EB``."""
        return self.elements[0]

    def get(self, index: int) -> str:
        """Element ``index`` (1-based as in the guide), or "" when the segment is shorter."""
        if index < len(self.elements):
            return self.elements[index]
        return ""


def detect_delimiters(text: str) -> Delimiters:
    """Read the delimiters from the ISA segment at the start of ``text``."""
    body = _strip_preamble(text)
    if not body.startswith("ISA"):
        raise X12ParseError("input is not X12: it does not start with an ISA segment")
    if len(body) < 4:
        raise X12ParseError("ISA segment is truncated")
    element = body[3]
    if element.isalnum() or element.isspace():
        raise X12ParseError("ISA segment has an invalid element separator")
    # Split rather than slice at fixed offsets: some senders pad ISA06/ISA08 wrongly, and the
    # sixteenth element separator still tells where ISA16 is.
    parts = body.split(element, 16)
    if len(parts) < 17 or len(parts[16]) < 2:
        raise X12ParseError("ISA segment is truncated: expected 16 elements and a segment terminator")
    component = parts[16][0]
    terminator = parts[16][1]
    repetition_field = parts[11]
    # 4010 put the standards identifier "U" in ISA11; only a non-alphanumeric there is a separator.
    repetition = repetition_field if len(repetition_field) == 1 and not repetition_field.isalnum() else None
    chosen = [element, component, terminator] + ([repetition] if repetition else [])
    if any(c.isalnum() for c in (component, terminator)) or component.isspace():
        raise X12ParseError("ISA segment has an invalid component separator or segment terminator")
    if len(set(chosen)) != len(chosen):
        raise X12ParseError("ISA segment uses the same character for two different delimiters")
    return Delimiters(element=element, repetition=repetition, component=component, segment=terminator)


def split_segments(text: str, delimiters: Delimiters | None = None) -> tuple[Delimiters, list[Segment], list[str]]:
    """Split an interchange into segments; returns the delimiters, the segments and warnings."""
    body = _strip_preamble(text)
    found = delimiters or detect_delimiters(body)
    segments: list[Segment] = []
    warnings: list[str] = []
    position = 0
    for raw in body.split(found.segment):
        # Line breaks after the terminator are common and are not data.
        cleaned = raw.strip("\r\n\t ")
        if not cleaned:
            continue
        position += 1
        elements = tuple(cleaned.split(found.element))
        if not _SEGMENT_ID.match(elements[0]):
            warnings.append(f"segment {position} has an invalid segment id and was skipped")
            continue
        segments.append(Segment(elements=elements, position=position))
    return found, segments, warnings


def _strip_preamble(text: str) -> str:
    return text.lstrip("\ufeff \r\n\t")
