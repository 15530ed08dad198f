"""Models of the sync app: imports from athena, the write-intent ledger, inbound and outbound events."""

from __future__ import annotations

from django.db import models


class ImportRun(models.Model):
    """One pull of athena's data into the hub; re-running an unfinished run resumes it."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateField(null=True, blank=True)
    stages_done = models.JSONField(default=list, blank=True)
    departments_done = models.JSONField(default=dict, blank=True, help_text="stage -> department ids done")
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"athena import #{self.pk}"
