"""Errors raised by the X12 code.

Messages never contain X12 content: a 270/271 carries names, member ids and dates of birth, and
exception text ends up in logs. They name positions, segment ids and field paths instead.
"""

from __future__ import annotations

from dataclasses import dataclass


class X12ParseError(ValueError):
    """The input is not a readable X12 interchange (not X12, truncated, no ISA)."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field: its dotted path and what is wrong, without the value."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class RequestValidationError(ValueError):
    """An eligibility request that cannot become a valid 270; lists every bad field by name."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("invalid eligibility request: " + "; ".join(str(p) for p in problems))

    @property
    def fields(self) -> list[str]:
        """The dotted paths of the invalid fields, in the order found."""
        return [p.field for p in self.problems]
