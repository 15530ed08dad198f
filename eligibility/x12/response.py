"""What the reader returns: plain dataclasses a service can keep, and ``to_dict()`` for JSON.

Money is integer cents (``amount``); percentages are percent (EB08 ``.2`` becomes ``20.0``); dates
are ISO ``YYYY-MM-DD``, and a range is ``YYYY-MM-DD/YYYY-MM-DD``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rejection:
    """One AAA (or 999/TA1 error): where, the code, the follow-up code, and our description."""

    loop: str
    code: str
    follow_up: str | None
    message: str


@dataclass
class Address:
    """N3/N4 as the payer returned it."""

    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass
class Entity:
    """A party named in a 2120 loop (PCP, other payer, contact) or in 2100A/2100B."""

    entity_code: str
    entity: str
    name: str = ""
    first_name: str = ""
    id_qualifier: str = ""
    id: str = ""
    address: Address | None = None
    references: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    contacts: list[str] = field(default_factory=list)


@dataclass
class Benefit:
    """One EB row with the segments of its 2110 loop."""

    loop: str
    info: str
    coverage_level: str = ""
    service_types: list[str] = field(default_factory=list)
    insurance_type: str = ""
    plan: str = ""
    period: str = ""
    amount: int | None = None
    percent: float | None = None
    quantity_qualifier: str = ""
    quantity: float | None = None
    auth_required: bool | None = None
    in_network: bool | None = None
    messages: list[str] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    hsd: list[dict[str, str]] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)


@dataclass
class Identity:
    """The subscriber or dependent as the payer knows them: always prefer this over the request."""

    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    suffix: str = ""
    member_id: str = ""
    dob: str = ""
    gender: str = ""
    group_number: str = ""
    group_name: str = ""
    address: Address | None = None
    identity_changed: bool = False
    prior_member_id: str = ""
    relationship: str = ""
    references: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)


@dataclass
class EligibilityResponse:
    """A parsed answer to a 270: a 271, a 999, or a TA1."""

    transaction: str
    status: str = "unknown"
    accepted: bool | None = None
    rejections: list[Rejection] = field(default_factory=list)
    subscriber: Identity | None = None
    dependent: Identity | None = None
    benefits: list[Benefit] = field(default_factory=list)
    other_payers: list[dict[str, Any]] = field(default_factory=list)
    pcp: dict[str, Any] | None = None
    dates: dict[str, str] = field(default_factory=dict)
    payer: Entity | None = None
    provider: Entity | None = None
    reference: str = ""
    trace_numbers: list[dict[str, str]] = field(default_factory=list)
    control_numbers: dict[str, str] = field(default_factory=dict)
    acknowledgment: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def patient(self) -> Identity | None:
        """The person the inquiry was about: the dependent when there is one."""
        return self.dependent or self.subscriber

    @property
    def patient_benefits(self) -> list[Benefit]:
        """The patient's EB rows: 2110D when the dependent has any, else 2110C."""
        dependent_rows = [b for b in self.benefits if b.loop == "2110D"]
        if self.dependent is not None and dependent_rows:
            return dependent_rows
        return [b for b in self.benefits if b.loop != "2110D"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the keys documented for ``parse_271 --json``."""
        return dataclasses.asdict(self)
