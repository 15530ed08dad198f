"""django-q2 tasks of the eligibility app. Each takes ids (or nothing) and calls one service."""

from __future__ import annotations

from hub import context
from hub.athena import athena_client

TASK_ACTOR = context.Actor(type="task", id="eligibility", label="eligibility worker")


def run_checks(correlation_id: str = "") -> int:
    """Ask the payer for every due eligibility check (a nudge; the rows are the truth)."""
    from eligibility.clearinghouse import clearinghouse_client
    from eligibility.services import checks_run_due

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id), actor=TASK_ACTOR):
        return checks_run_due(clearinghouse=clearinghouse_client(), athena=athena_client())


def sweep(correlation_id: str = "") -> None:
    """Scheduled safety net: if a check is due (a retry whose time came, a lost task), queue a run."""
    from django.utils import timezone

    from eligibility.models import EligibilityCheck
    from hub.queue import nudge

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id)):
        if EligibilityCheck.objects.due(now=timezone.now()).exists():
            nudge("eligibility.tasks.run_checks")


def plan_rechecks(correlation_id: str = "") -> dict[str, int]:
    """Queue checks of visits in the next days whose coverage answer is old; re-score those visits."""
    from eligibility.risk_service import upcoming_risks_refresh
    from eligibility.services import rechecks_plan

    with context.bind(correlation_id=context.clean_correlation_id(correlation_id), actor=TASK_ACTOR):
        return {"checks": rechecks_plan(), "scored": upcoming_risks_refresh()}
