"""Verifying the audit hash chain while the hub keeps writing to it.

`chain_verify()` checks the same things as `hub.audit.audit_verify` (every row's hash, every link,
no gaps, the head matches), but compares against the chain head as it was *before* the walk:
rows appended during a long walk are left for the next run instead of showing up as "rows
missing at the end". The oldest kept row's own link is trusted as the anchor, so the chain stays
verifiable after the retention purge. `after_sequence`/`after_hash` start from a point an
earlier run verified (scheduled checks read only new rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hub.audit import HASHED_FIELDS, ChainBreak, ChainReport, row_hash
from hub.models import AuditChainHead, AuditEvent

BATCH = 5000


def _rows(after: int, through: int) -> Iterator[dict[str, Any]]:
    last = after
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gt=last, sequence__lte=through)
            .order_by("sequence")
            .values("prev_hash", "row_hash", *HASHED_FIELDS)[:BATCH]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1]["sequence"]


def chain_head() -> tuple[int, str]:
    head = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first()
    return head if head is not None else (0, "")


def chain_verify(*, after_sequence: int = 0, after_hash: str = "") -> ChainReport:
    """Walk the chain (from a verified point, if given) up to the head; name the first broken row."""
    head_sequence, head_hash = chain_head()
    expected_prev = after_hash or None
    expected_sequence = after_sequence + 1 if after_sequence else None
    checked = 0
    last_hash = after_hash
    last_sequence = after_sequence
    for row in _rows(after_sequence, head_sequence):
        checked += 1
        sequence = row["sequence"]
        if expected_sequence is not None and sequence != expected_sequence:
            return ChainReport(checked, ChainBreak(expected_sequence, "row missing (sequence gap)"))
        if expected_prev is not None and row["prev_hash"] != expected_prev:
            return ChainReport(checked, ChainBreak(sequence, "link to the previous row does not match"))
        if row_hash(row["prev_hash"], row) != row["row_hash"]:
            return ChainReport(checked, ChainBreak(sequence, "row content does not match its hash"))
        expected_prev = last_hash = row["row_hash"]
        expected_sequence = sequence + 1
        last_sequence = sequence
    if checked == 0 and head_sequence in (0, after_sequence):
        return ChainReport(0, None)  # a fresh chain, or nothing new since the verified point
    if last_sequence != head_sequence:
        return ChainReport(checked, ChainBreak(last_sequence + 1, "rows missing at the end of the chain"))
    if last_hash != head_hash:
        return ChainReport(checked, ChainBreak(last_sequence, "chain head does not match the last row"))
    return ChainReport(checked, None)
