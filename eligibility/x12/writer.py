"""Writing X12: segments and the ISA/GS/ST envelope with counts and control numbers kept consistent.

Both the 270 builder and the synthetic 271/999/TA1 writers go through here, so the envelope rules
(fixed-width ISA, SE01 counting ST..SE, GE01/IEA01 counts, matching control numbers) live in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eligibility.x12.syntax import DEFAULT_DELIMITERS, Delimiters

MAX_CONTROL_NUMBER = 999_999_999


@dataclass(frozen=True)
class Envelope:
    """Who sends to whom, when, and under which control numbers."""

    sender_id: str
    receiver_id: str
    interchange_control_number: int
    created_at: dt.datetime
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str | None = None
    application_receiver: str | None = None
    group_control_number: int | None = None
    transaction_control_number: int = 1
    usage: str = "T"
    acknowledgment_requested: bool = False

    @property
    def isa13(self) -> str:
        """ISA13/IEA02: nine digits, zero-padded."""
        return f"{self.interchange_control_number:09d}"

    @property
    def gs06(self) -> str:
        """GS06/GE02: the group control number without padding."""
        return str(self.group_control_number or self.interchange_control_number)

    @property
    def st02(self) -> str:
        """ST02/SE02: at least four digits."""
        return f"{self.transaction_control_number:04d}"


def render_segment(elements: Sequence[str], delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Join one segment's elements, dropping trailing empty elements as the standard asks."""
    values = list(elements)
    while len(values) > 1 and values[-1] == "":
        values.pop()
    return delimiters.element.join(values) + delimiters.segment


def join_repeats(values: Iterable[str], delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """One repeated element (e.g. EB03 ``1^33^35``) from its values."""
    separator = delimiters.repetition or DEFAULT_DELIMITERS.repetition or "^"
    return separator.join(values)


def render_isa(envelope: Envelope, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """The fixed-width (106-character) ISA segment of ``envelope``."""
    created = envelope.created_at
    isa = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        envelope.sender_qualifier,
        envelope.sender_id.ljust(15),
        envelope.receiver_qualifier,
        envelope.receiver_id.ljust(15),
        created.strftime("%y%m%d"),
        created.strftime("%H%M"),
        delimiters.repetition or "U",
        "00501",
        envelope.isa13,
        "1" if envelope.acknowledgment_requested else "0",
        envelope.usage,
        delimiters.component,
    ]
    # No trimming here: the ISA's empty-looking elements are padding and must stay.
    return delimiters.element.join(isa) + delimiters.segment


def render_interchange(
    *,
    envelope: Envelope,
    functional_id: str,
    transaction_set_id: str,
    version: str,
    body: Sequence[Sequence[str]],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    line_breaks: bool = False,
) -> str:
    """One ISA/GS/ST interchange around ``body`` (the segments between ST and SE)."""
    created = envelope.created_at
    gs = [
        "GS",
        functional_id,
        envelope.application_sender or envelope.sender_id,
        envelope.application_receiver or envelope.receiver_id,
        created.strftime("%Y%m%d"),
        created.strftime("%H%M"),
        envelope.gs06,
        "X",
        version,
    ]
    st = ["ST", transaction_set_id, envelope.st02, version]
    # SE01 counts every segment from ST to SE, both included.
    se = ["SE", str(len(body) + 2), envelope.st02]
    trailer = [["GE", "1", envelope.gs06], ["IEA", "1", envelope.isa13]]
    rendered = [render_isa(envelope, delimiters)]
    rendered += [render_segment(s, delimiters) for s in [gs, st, *body, se, *trailer]]
    return _join(rendered, line_breaks)


def render_bare_interchange(
    *,
    envelope: Envelope,
    segments: Sequence[Sequence[str]],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    line_breaks: bool = False,
) -> str:
    """An ISA ... IEA interchange holding only ``segments`` (a TA1 comes without a functional group)."""
    rendered = [render_isa(envelope, delimiters)]
    rendered += [render_segment(s, delimiters) for s in segments]
    rendered.append(render_segment(["IEA", "0", envelope.isa13], delimiters))
    return _join(rendered, line_breaks)


def _join(rendered: list[str], line_breaks: bool) -> str:
    if line_breaks:
        return "\n".join(rendered) + "\n"
    return "".join(rendered)
