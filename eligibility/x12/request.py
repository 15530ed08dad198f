"""The eligibility request a 270 is built from, and its validation and normalisation.

Validation collects every bad field and names it (``subscriber.dob``) without echoing the value,
because values here are PHI. A request that passes can always be written as a valid 270.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eligibility.x12.codes import SERVICE_TYPE_CODES
from eligibility.x12.errors import FieldProblem, RequestValidationError

MEMBER_ID_PATTERN = re.compile(r"^[A-Z0-9-]{2,30}$")
PAYER_ID_PATTERN = re.compile(r"^[A-Z0-9-]{2,80}$")
GROUP_NUMBER_PATTERN = re.compile(r"^[A-Z0-9-]{1,30}$")
# Payers match names after CAQH CORE-style normalisation: letters, spaces and a little punctuation.
PERSON_NAME_PATTERN = re.compile(r"^[A-Z][A-Z '.-]*$")
ORGANIZATION_NAME_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9 '.,&/()-]*$")
ISO_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

GENDERS: dict[str, str | None] = {
    "F": "F",
    "FEMALE": "F",
    "M": "M",
    "MALE": "M",
    # 5010's 270 knows only F and M; anything else is sent without a gender rather than guessed.
    "U": None,
    "UNKNOWN": None,
    "X": None,
    "": None,
}
RELATIONSHIPS: dict[str, str] = {
    "01": "01",
    "SPOUSE": "01",
    "19": "19",
    "CHILD": "19",
    "34": "34",
    "OTHER": "34",
    "OTHER ADULT": "34",
}
MAX_SERVICE_TYPES = 99

DateInput = dt.date | str


@dataclass(frozen=True)
class Payer:
    """The payer asked: its name and the clearinghouse's payer id."""

    name: str
    id: str


@dataclass(frozen=True)
class Provider:
    """The provider asking: practice or clinician name and NPI."""

    name: str
    npi: str


@dataclass(frozen=True)
class Subscriber:
    """The insured person on the card."""

    first_name: str
    last_name: str
    member_id: str
    dob: DateInput
    gender: str | None = None
    group_number: str | None = None
    middle_name: str | None = None


@dataclass(frozen=True)
class Dependent:
    """The patient when they are covered under someone else's policy."""

    first_name: str
    last_name: str
    dob: DateInput
    gender: str | None = None
    relationship: str = "19"
    member_id: str | None = None


@dataclass(frozen=True)
class EligibilityRequest:
    """Everything one 270 asks: who, of whom, for which services, on which date."""

    payer: Payer
    provider: Provider
    subscriber: Subscriber
    dependent: Dependent | None = None
    service_types: tuple[str, ...] = ("30",)
    date_of_service: DateInput | None = None

    @property
    def sends_dependent_loop(self) -> bool:
        """True when the patient goes in a 2000D loop: a dependent without a member id of their own."""
        return self.dependent is not None and not self.dependent.member_id


_SHAPE: dict[str, tuple[str, ...]] = {
    "": ("payer", "provider", "subscriber", "dependent", "service_types", "date_of_service"),
    "payer": ("name", "id"),
    "provider": ("name", "npi"),
    "subscriber": ("first_name", "last_name", "middle_name", "member_id", "dob", "gender", "group_number"),
    "dependent": ("first_name", "last_name", "dob", "gender", "relationship", "member_id"),
}


def request_from_dict(data: Mapping[str, Any]) -> EligibilityRequest:
    """Build and validate a request from its JSON shape; raises RequestValidationError."""
    problems: list[FieldProblem] = []
    if not isinstance(data, Mapping):
        raise RequestValidationError([FieldProblem("request", "must be a JSON object")])
    _check_keys(data, "", problems)
    parts: dict[str, Mapping[str, Any]] = {}
    for name in ("payer", "provider", "subscriber"):
        value = data.get(name)
        if not isinstance(value, Mapping):
            problems.append(FieldProblem(name, "is required and must be an object"))
            parts[name] = {}
        else:
            _check_keys(value, name, problems)
            parts[name] = value
    dependent_data = data.get("dependent")
    if dependent_data is not None and not isinstance(dependent_data, Mapping):
        problems.append(FieldProblem("dependent", "must be an object or null"))
        dependent_data = None
    if isinstance(dependent_data, Mapping):
        _check_keys(dependent_data, "dependent", problems)
    service_types = data.get("service_types", ["30"])
    if not isinstance(service_types, list) or not all(isinstance(s, str) for s in service_types):
        problems.append(FieldProblem("service_types", "must be a list of service type codes"))
        service_types = ["30"]
    if problems:
        raise RequestValidationError(problems)

    payer, provider, subscriber = parts["payer"], parts["provider"], parts["subscriber"]
    request = EligibilityRequest(
        payer=Payer(name=_get(payer, "name"), id=_get(payer, "id")),
        provider=Provider(name=_get(provider, "name"), npi=_get(provider, "npi")),
        subscriber=Subscriber(
            first_name=_get(subscriber, "first_name"),
            last_name=_get(subscriber, "last_name"),
            middle_name=_get(subscriber, "middle_name"),
            member_id=_get(subscriber, "member_id"),
            dob=_get(subscriber, "dob"),
            gender=_get(subscriber, "gender"),
            group_number=_get(subscriber, "group_number"),
        ),
        dependent=(
            Dependent(
                first_name=_get(dependent_data, "first_name"),
                last_name=_get(dependent_data, "last_name"),
                dob=_get(dependent_data, "dob"),
                gender=_get(dependent_data, "gender"),
                relationship=_get(dependent_data, "relationship"),
                member_id=_get(dependent_data, "member_id"),
            )
            if isinstance(dependent_data, Mapping)
            else None
        ),
        service_types=tuple(service_types),
        date_of_service=data.get("date_of_service"),
    )
    return normalize_request(request)


def _get(source: Mapping[str, Any], key: str) -> Any:
    # Values are checked by normalize_request; here they are only carried over.
    return source.get(key)


def normalize_request(request: EligibilityRequest) -> EligibilityRequest:
    """Validate every field and return the request as payers expect it (upper case, trimmed, dates)."""
    problems: list[FieldProblem] = []
    date_of_service = (
        None if request.date_of_service in (None, "") else _date(request.date_of_service, "date_of_service", problems)
    )
    payer = Payer(
        name=_name(request.payer.name, "payer.name", problems, organization=True, max_length=60),
        id=_code(request.payer.id, "payer.id", PAYER_ID_PATTERN, "2-80 letters, digits or hyphens", problems),
    )
    provider = Provider(
        name=_name(request.provider.name, "provider.name", problems, organization=True, max_length=60),
        npi=_npi(request.provider.npi, "provider.npi", problems),
    )
    sub = request.subscriber
    subscriber = Subscriber(
        first_name=_name(sub.first_name, "subscriber.first_name", problems, max_length=35),
        last_name=_name(sub.last_name, "subscriber.last_name", problems, max_length=60),
        middle_name=_name(sub.middle_name, "subscriber.middle_name", problems, max_length=25, required=False) or None,
        member_id=_code(
            sub.member_id, "subscriber.member_id", MEMBER_ID_PATTERN, "2-30 letters, digits or hyphens", problems
        ),
        dob=_birth_date(sub.dob, "subscriber.dob", date_of_service, problems),
        gender=_gender(sub.gender, "subscriber.gender", problems),
        group_number=_code(
            sub.group_number,
            "subscriber.group_number",
            GROUP_NUMBER_PATTERN,
            "1-30 letters, digits or hyphens",
            problems,
            required=False,
        )
        or None,
    )
    dependent = None
    if request.dependent is not None:
        dep = request.dependent
        dependent = Dependent(
            first_name=_name(dep.first_name, "dependent.first_name", problems, max_length=35),
            last_name=_name(dep.last_name, "dependent.last_name", problems, max_length=60),
            dob=_birth_date(dep.dob, "dependent.dob", date_of_service, problems),
            gender=_gender(dep.gender, "dependent.gender", problems),
            relationship=_relationship(dep.relationship, "dependent.relationship", problems),
            member_id=_code(
                dep.member_id,
                "dependent.member_id",
                MEMBER_ID_PATTERN,
                "2-30 letters, digits or hyphens",
                problems,
                required=False,
            )
            or None,
        )
    service_types = _service_types(request.service_types, problems)
    if problems:
        raise RequestValidationError(problems)
    return replace(
        request,
        payer=payer,
        provider=provider,
        subscriber=subscriber,
        dependent=dependent,
        service_types=service_types,
        date_of_service=date_of_service,
    )


def npi_is_valid(npi: str) -> bool:
    """True when ``npi`` is 10 digits whose last digit is the Luhn check over 80840 + the first nine."""
    if not (isinstance(npi, str) and len(npi) == 10 and npi.isascii() and npi.isdigit()):
        return False
    return _luhn_ok("80840" + npi)


def normalize_name(value: str) -> str:
    """Upper-case, strip accents and collapse spaces, as payers compare names."""
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(ascii_only.upper().split())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _check_keys(data: Mapping[str, Any], prefix: str, problems: list[FieldProblem]) -> None:
    # Unknown keys are usually typos ("memberid"); silently dropping them would send a wrong 270.
    allowed = _SHAPE[prefix]
    for key in data:
        if key not in allowed:
            name = f"{prefix}.{key}" if prefix else str(key)
            problems.append(FieldProblem(name, "is not a known field"))


def _name(
    value: Any,
    field_name: str,
    problems: list[FieldProblem],
    *,
    organization: bool = False,
    max_length: int,
    required: bool = True,
) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(FieldProblem(field_name, "is required"))
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(field_name, "must be text"))
        return ""
    cleaned = normalize_name(value)
    pattern = ORGANIZATION_NAME_PATTERN if organization else PERSON_NAME_PATTERN
    if not pattern.match(cleaned):
        allowed = "letters, digits, spaces and . , ' & / ( ) -" if organization else "letters, spaces and . ' -"
        problems.append(FieldProblem(field_name, f"contains characters not allowed in X12 names (use {allowed})"))
        return ""
    if len(cleaned) > max_length:
        problems.append(FieldProblem(field_name, f"is longer than {max_length} characters"))
        return ""
    return cleaned


def _code(
    value: Any,
    field_name: str,
    pattern: re.Pattern[str],
    description: str,
    problems: list[FieldProblem],
    *,
    required: bool = True,
) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(FieldProblem(field_name, "is required"))
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(field_name, "must be text"))
        return ""
    # Cards print ids in blocks ("XYZ 123 456"); payers want them without the spaces.
    cleaned = "".join(value.upper().split())
    if not pattern.match(cleaned):
        problems.append(FieldProblem(field_name, f"must be {description}"))
        return ""
    return cleaned


def _npi(value: Any, field_name: str, problems: list[FieldProblem]) -> str:
    if value is None or value == "":
        problems.append(FieldProblem(field_name, "is required"))
        return ""
    cleaned = value.strip() if isinstance(value, str) else ""
    if not npi_is_valid(cleaned):
        problems.append(FieldProblem(field_name, "is not a valid NPI (10 digits with a valid check digit)"))
        return ""
    return cleaned


def _date(value: Any, field_name: str, problems: list[FieldProblem]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        problems.append(FieldProblem(field_name, "must be a date, not a date-time"))
        return None
    if isinstance(value, dt.date):
        parsed = value
    elif isinstance(value, str) and ISO_DATE_PATTERN.match(value.strip()):
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            problems.append(FieldProblem(field_name, "is not a real calendar date"))
            return None
    elif value is None or value == "":
        problems.append(FieldProblem(field_name, "is required"))
        return None
    else:
        problems.append(FieldProblem(field_name, "must be a date in YYYY-MM-DD format"))
        return None
    if not 1900 <= parsed.year <= 2199:
        problems.append(FieldProblem(field_name, "is outside the years 1900-2199"))
        return None
    return parsed


def _birth_date(
    value: Any, field_name: str, date_of_service: dt.date | None, problems: list[FieldProblem]
) -> dt.date | str:
    parsed = _date(value, field_name, problems)
    if parsed is None:
        return ""
    if date_of_service is not None and parsed > date_of_service:
        # The payer would answer AAA 60; say so before sending.
        problems.append(FieldProblem(field_name, "is after the date of service"))
    return parsed


def _gender(value: Any, field_name: str, problems: list[FieldProblem]) -> str | None:
    if value is None:
        return None
    key = value.strip().upper() if isinstance(value, str) else None
    if key is None or key not in GENDERS:
        problems.append(FieldProblem(field_name, "must be F, M or U (or female, male, unknown)"))
        return None
    return GENDERS[key]


def _relationship(value: Any, field_name: str, problems: list[FieldProblem]) -> str:
    key = value.strip().upper() if isinstance(value, str) else None
    if key is None or key not in RELATIONSHIPS:
        problems.append(FieldProblem(field_name, "must be spouse (01), child (19) or other (34)"))
        return ""
    return RELATIONSHIPS[key]


def _service_types(values: Any, problems: list[FieldProblem]) -> tuple[str, ...]:
    if isinstance(values, str) or not values:
        problems.append(FieldProblem("service_types", "must list at least one service type code"))
        return ()
    cleaned: list[str] = []
    for index, value in enumerate(values):
        code = value.strip().upper() if isinstance(value, str) else ""
        if code not in SERVICE_TYPE_CODES:
            problems.append(FieldProblem(f"service_types[{index}]", "is not a 005010X279A1 service type code"))
        elif code not in cleaned:
            cleaned.append(code)
    if len(cleaned) > MAX_SERVICE_TYPES:
        problems.append(FieldProblem("service_types", f"has more than {MAX_SERVICE_TYPES} codes"))
    return tuple(cleaned)
