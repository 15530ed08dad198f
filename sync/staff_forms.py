"""Forms of the staff's sync pages: a conflict decision, an assignment, a replay after its dry run.

Decisions are guarded against stale screens: each form carries a fingerprint of what the page
showed (the conflict's values, the dry run's request), and a decision is refused when the rows
changed since, so staff never confirm something they did not see.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac

from sync.models import Conflict
from sync.staff_services import conflict_value_clean

REASON_HELP = "Kept with the decision and shown to colleagues; no patient details needed."
STALE = "This changed while you were looking. Review what is shown now and decide again."


def fingerprint(*parts: Any) -> str:
    """A keyed digest of what a page showed (never the values themselves in the form)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return salted_hmac("sync.staff_forms.shown", text).hexdigest()


class ConflictResolveForm(forms.Form):
    choice = forms.ChoiceField(choices=Conflict.Choice.choices, widget=forms.RadioSelect)
    edited_value = forms.CharField(required=False, max_length=200, label="Edited value")
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)
    shown = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, field_name: str, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field_name = field_name
        self.expected = expected
        self.fields["shown"].initial = expected
        self.cleaned_value: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("shown") and cleaned["shown"] != self.expected:
            raise ValidationError(STALE)
        if cleaned.get("choice") == Conflict.Choice.EDITED:
            try:
                self.cleaned_value = conflict_value_clean(
                    field_name=self.field_name, raw=cleaned.get("edited_value", "")
                )
            except ValidationError as exc:
                self.add_error("edited_value", exc)
        return cleaned


class AssignForm(forms.Form):
    assignee: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Nobody", label="Assign to"
    )

    def __init__(self, *args: Any, assignees: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees  # type: ignore[attr-defined]


class ReplayForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the write's history; no patient details needed.",
    )
    shown = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.fields["shown"].initial = expected

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("shown") and cleaned["shown"] != self.expected:
            raise ValidationError(STALE)
        return cleaned
