"""Verifying the audit hash chain while the hub keeps writing to it.

`chain_verify()` checks every row's hash, every link, that no row is missing and that the head
matches, comparing against the chain head as it was *before* the walk:
rows appended during a long walk are left for the next run instead of showing up as "rows
missing at the end". The oldest kept row's own link is trusted as the anchor, so the chain stays
verifiable after the retention purge.

A full walk costs ~37 s per million rows on SQLite, so the scheduled check (`checkpoint_advance`,
run by the alert evaluation) never walks everything in one go: it verifies the rows appended
since the last run, and carries a full walk forward a time budget at a time
(`HUB_AUDIT_VERIFY_BUDGET_SECONDS`), resuming where the previous run stopped. Each completed
full walk, and each break found, writes a `verify` audit row.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from hub import context
from hub.audit import HASHED_FIELDS, ChainBreak, ChainReport, audit_record, row_hash
from hub.models import AuditChainHead, AuditCheckpoint, AuditEvent

BATCH = 5000
VERIFY = "verify"
CHECKER_ACTOR = context.Actor(type="task", id="audit-chain", label="audit chain check")


@dataclass(frozen=True)
class Walk:
    """How far a walk got: the last row it verified, and whether it reached its target."""

    report: ChainReport
    last_sequence: int
    last_hash: str
    complete: bool


def _rows(after: int, through: int) -> Iterator[list[dict[str, Any]]]:
    last = after
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gt=last, sequence__lte=through)
            .order_by("sequence")
            .values("prev_hash", "row_hash", *HASHED_FIELDS)[:BATCH]
        )
        if not batch:
            return
        yield batch
        last = batch[-1]["sequence"]


def chain_walk(*, after_sequence: int = 0, after_hash: str = "", through: int, deadline: float | None = None) -> Walk:
    """Verify rows after a verified point up to `through`, stopping early at `deadline` (monotonic)."""
    expected_prev = after_hash or None
    expected_sequence = after_sequence + 1 if after_sequence else None
    checked = 0
    last_sequence, last_hash = after_sequence, after_hash
    for batch in _rows(after_sequence, through):
        for row in batch:
            checked += 1
            sequence = row["sequence"]
            if expected_sequence is not None and sequence != expected_sequence:
                broken = ChainBreak(expected_sequence, "row missing (sequence gap)")
                return Walk(ChainReport(checked, broken), last_sequence, last_hash, False)
            if expected_prev is not None and row["prev_hash"] != expected_prev:
                broken = ChainBreak(sequence, "link to the previous row does not match")
                return Walk(ChainReport(checked, broken), last_sequence, last_hash, False)
            if row_hash(row["prev_hash"], row) != row["row_hash"]:
                broken = ChainBreak(sequence, "row content does not match its hash")
                return Walk(ChainReport(checked, broken), last_sequence, last_hash, False)
            expected_prev = last_hash = row["row_hash"]
            expected_sequence = sequence + 1
            last_sequence = sequence
        if deadline is not None and time.monotonic() >= deadline and last_sequence < through:
            return Walk(ChainReport(checked, None), last_sequence, last_hash, False)
    if last_sequence != through and through > after_sequence:
        broken = ChainBreak(last_sequence + 1, "rows missing at the end of the chain")
        return Walk(ChainReport(checked, broken), last_sequence, last_hash, False)
    return Walk(ChainReport(checked, None), last_sequence, last_hash, True)


def chain_head() -> tuple[int, str]:
    head = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first()
    return head if head is not None else (0, "")


def _head_matches(walk: Walk, head_hash: str) -> Walk:
    if walk.report.first_break is None and walk.last_sequence and walk.last_hash != head_hash:
        broken = ChainBreak(walk.last_sequence, "chain head does not match the last row")
        return Walk(ChainReport(walk.report.rows_checked, broken), walk.last_sequence, walk.last_hash, False)
    return walk


def chain_verify(*, after_sequence: int = 0, after_hash: str = "") -> ChainReport:
    """Walk the chain (from a verified point, if given) up to the head; name the first broken row."""
    head_sequence, head_hash = chain_head()
    if head_sequence == after_sequence:
        return ChainReport(0, None)  # a fresh chain, or nothing new since the verified point
    walk = chain_walk(after_sequence=after_sequence, after_hash=after_hash, through=head_sequence)
    return _head_matches(walk, head_hash).report


def verify_record(report: ChainReport, *, actor: context.Actor, route: str = "", method: str = "") -> AuditEvent:
    """Write the audit row of one chain verification (outcome 12 when the chain is broken)."""
    broken = report.first_break
    return audit_record(
        system=AuditEvent.System.HUB,
        direction=AuditEvent.Direction.INTERNAL,
        action=VERIFY,
        actor=actor,
        method=method,
        route=route,
        object_type="auditevent",
        object_id=broken.sequence if broken else None,
        outcome=AuditEvent.Outcome.MAJOR_FAILURE if broken else AuditEvent.Outcome.SUCCESS,
        outcome_detail=broken.reason if broken else "",
        detail={"rows_checked": report.rows_checked, "first_break_sequence": broken.sequence if broken else None},
    )


def kept_rows() -> int:
    """How many rows the chain holds now (for deciding whether a walk fits in a web request)."""
    oldest = AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True).first()
    head_sequence, _ = chain_head()
    return 0 if oldest is None else head_sequence - oldest + 1


def full_walk_request(*, user_actor: context.Actor) -> None:
    """Ask the scheduled check to start a full walk now; its `verify` row names the requester."""
    AuditCheckpoint.objects.get_or_create(pk=1)
    AuditCheckpoint.objects.filter(pk=1).update(
        full_walk_requested_by=f"{user_actor.id}:{user_actor.label}"[:200], last_full_at=None
    )


def _requester(checkpoint: AuditCheckpoint) -> context.Actor:
    if not checkpoint.full_walk_requested_by:
        return CHECKER_ACTOR
    user_id, _, label = checkpoint.full_walk_requested_by.partition(":")
    return context.Actor(type="user", id=user_id, label=label)


def _mark_broken(checkpoint: AuditCheckpoint, report: ChainReport) -> None:
    assert report.first_break is not None
    newly = checkpoint.broken_sequence != report.first_break.sequence
    checkpoint.broken_sequence = report.first_break.sequence
    checkpoint.broken_reason = report.first_break.reason[:200]
    if newly:
        verify_record(report, actor=_requester(checkpoint))


def checkpoint_advance(*, now: dt.datetime | None = None, budget_seconds: float | None = None) -> AuditCheckpoint:
    """Verify new rows, and carry the periodic full walk forward within a time budget."""
    now = now or timezone.now()
    budget = settings.HUB_AUDIT_VERIFY_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    # No lock held while walking: on SQLite a write transaction would stall every audit write.
    checkpoint, _ = AuditCheckpoint.objects.get_or_create(pk=1)
    head_sequence, head_hash = chain_head()
    checkpoint.last_run_at = now
    tail_broken = False

    # 1. Rows appended since the last verified point (a few minutes' worth).
    if checkpoint.verified_sequence:
        tail = chain_walk(
            after_sequence=checkpoint.verified_sequence, after_hash=checkpoint.verified_hash, through=head_sequence
        )
        tail = _head_matches(tail, head_hash) if tail.complete else tail
        checkpoint.rows_checked = tail.report.rows_checked
        if tail.report.first_break is not None:
            tail_broken = True
            _mark_broken(checkpoint, tail.report)
        else:
            checkpoint.verified_sequence, checkpoint.verified_hash = tail.last_sequence, tail.last_hash

    # 2. The full walk: when due, asked for, in progress, never done, or re-checking a break.
    due = dt.timedelta(hours=settings.HUB_AUDIT_FULL_VERIFY_HOURS)
    if (
        checkpoint.full_walk_sequence is not None
        or checkpoint.last_full_at is None
        or now - checkpoint.last_full_at >= due
        or checkpoint.broken_sequence is not None
    ):
        _full_walk_step(checkpoint, head_sequence, head_hash, tail_broken=tail_broken, deadline=deadline, now=now)
    checkpoint.save()
    return checkpoint


def _full_walk_step(
    checkpoint: AuditCheckpoint, head_sequence: int, head_hash: str, *, tail_broken: bool, deadline: float, now: Any
) -> None:
    start_sequence, start_hash = checkpoint.full_walk_sequence or 0, checkpoint.full_walk_hash
    oldest = AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True).first() or 0
    if start_sequence and oldest > start_sequence + 1:
        start_sequence, start_hash, checkpoint.full_walk_rows = 0, "", 0  # the purge overtook the walk
    # Up to the verified point (rows after it were just checked), or the head when there is none.
    target = head_sequence if tail_broken or not checkpoint.verified_sequence else checkpoint.verified_sequence
    walk = chain_walk(after_sequence=start_sequence, after_hash=start_hash, through=target, deadline=deadline)
    if walk.complete and target == head_sequence:
        walk = _head_matches(walk, head_hash)
    rows = checkpoint.full_walk_rows + walk.report.rows_checked
    if walk.report.first_break is not None:
        _mark_broken(checkpoint, ChainReport(rows, walk.report.first_break))
        checkpoint.full_walk_sequence, checkpoint.full_walk_hash, checkpoint.full_walk_rows = None, "", 0
        checkpoint.last_full_at = now
    elif walk.complete:
        if not tail_broken:
            checkpoint.broken_sequence, checkpoint.broken_reason = None, ""
        if not checkpoint.verified_sequence:
            checkpoint.verified_sequence, checkpoint.verified_hash = walk.last_sequence, walk.last_hash
        verify_record(ChainReport(rows, None), actor=_requester(checkpoint))
        checkpoint.full_walk_sequence, checkpoint.full_walk_hash, checkpoint.full_walk_rows = None, "", 0
        checkpoint.full_walk_requested_by = ""
        checkpoint.last_full_at = now
    else:
        checkpoint.full_walk_sequence, checkpoint.full_walk_hash = walk.last_sequence, walk.last_hash
        checkpoint.full_walk_rows = rows
