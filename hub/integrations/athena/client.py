"""The athenaOne (athenaNet MDP) API client the hub uses: one session, one choke point.

Every HTTP attempt goes through `_send`, which takes a rate-limit slot, attaches the OAuth token,
classifies the outcome (success / transient / ambiguous / permanent) and hands one `CallRecord`
to the audit sink. Route templates, never values, identify calls in audit rows and errors.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from hub.integrations.athena.coerce import first, from_bool, from_date, to_bool, to_int, to_str
from hub.integrations.athena.errors import (
    AthenaAmbiguousError,
    AthenaAuthError,
    AthenaError,
    AthenaNotFoundError,
    AthenaPermanentError,
    AthenaSlotUnavailableError,
    AthenaTransientError,
)
from hub.integrations.athena.support import (
    AuditSink,
    CachedToken,
    CallRecord,
    MemoryRateLimiter,
    MemoryTokenStore,
    RateLimiter,
    TokenStore,
)
from hub.integrations.athena.types import (
    AthenaAppointment,
    AthenaAppointmentType,
    AthenaDepartment,
    AthenaInsurance,
    AthenaInsurancePackage,
    AthenaPatient,
    AthenaProvider,
    AthenaReason,
    BenefitDetails,
    InsuranceWrite,
    PatientWrite,
    SubscriptionStatus,
)
from hub.integrations.calls import audit_started

logger = logging.getLogger(__name__)

TOKEN_ROUTE = "/oauth2/v1/token"  # noqa: S105 - a route, not a credential


@dataclass(frozen=True)
class AthenaConfig:
    base_url: str
    practice_id: str
    client_id: str
    client_secret: str
    scope: str = "athena/service/Athenanet.MDP.*"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    token_timeout: float = 10.0
    # Refresh when less than this fraction of the token's lifetime is left (athena: 1 h tokens).
    token_refresh_margin: float = 0.2
    get_retries: int = 2
    retry_backoff: float = 0.5
    max_retry_wait: float = 10.0


def _safe_json(response: requests.Response) -> Any:
    """athena sometimes sends blank lines before an error body; parse leniently."""
    text = response.text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests → urllib3 → socket errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        wrapped = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = (
            (reason if isinstance(reason, BaseException) else None)
            or wrapped
            or current.__cause__
            or current.__context__
        )


def _was_sent(exc: requests.RequestException) -> bool:
    """Did the request reach the server? Connect failures did not; read timeouts and resets may have."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    for cause in _exception_chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return False
        if type(cause).__name__ in {"NewConnectionError", "ConnectTimeoutError", "NameResolutionError"}:
            return False
    return True


class AthenaClient:
    """athenaOne API client: form bodies in, dataclasses out, one audit record per attempt."""

    def __init__(
        self,
        config: AthenaConfig,
        *,
        token_store: TokenStore | None = None,
        rate_limiter: RateLimiter | None = None,
        audit_sink: AuditSink | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.token_store = token_store or MemoryTokenStore()
        self.rate_limiter = rate_limiter or MemoryRateLimiter(rate=10.0)
        self.audit_sink = audit_sink or (lambda record: None)
        self.session = session or requests.Session()
        # No transport-level retries: a write must never be resent without the ledger's say-so.
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._random = random.Random()  # noqa: S311 - jitter for retry timing, not security

    # --- plumbing -----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    def _practice_path(self, template: str, **params: Any) -> str:
        values = {key: quote(str(value), safe="") for key, value in params.items()}
        return f"/v1/{quote(self.config.practice_id, safe='')}" + template.format(**values)

    def _audit(self, record: CallRecord) -> None:
        try:
            self.audit_sink(record)
        except Exception:
            # The audit trail must not silently lose a row: let the caller fail loudly.
            logger.exception("athena audit sink failed for %s %s", record.method, record.route)
            raise

    def _fetch_token(self) -> CachedToken:
        """POST /oauth2/v1/token with client credentials (one call, audited)."""
        blocked = self.token_store.blocked_until()
        now = time.time()
        if blocked > now:
            raise AthenaTransientError(
                "athena token endpoint is rate limited", retry_after=blocked - now, route=TOKEN_ROUTE
            )
        basic = base64.b64encode(f"{self.config.client_id}:{self.config.client_secret}".encode()).decode()
        audit_started(self.audit_sink, "POST", TOKEN_ROUTE)
        started = time.monotonic()
        try:
            response = self.session.post(
                self._url(TOKEN_ROUTE),
                data={"grant_type": "client_credentials", "scope": self.config.scope},
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                timeout=(self.config.connect_timeout, self.config.token_timeout),
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            self._audit(CallRecord("POST", TOKEN_ROUTE, None, "transient", latency, error=type(exc).__name__))
            raise AthenaTransientError("athena token request failed", route=TOKEN_ROUTE) from exc
        latency = int((time.monotonic() - started) * 1000)
        request_id = response.headers.get("X-Request-Id", "")
        status = response.status_code
        if status == 429:
            # Blocked for the rest of the minute: remember it so no caller hammers the endpoint.
            retry_after = _retry_after(response) or (60 - dt.datetime.now(dt.UTC).second)
            self.token_store.block(time.time() + retry_after)
            self._audit(CallRecord("POST", TOKEN_ROUTE, status, "transient", latency, request_id, "rate limited"))
            raise AthenaTransientError(
                "athena token endpoint is rate limited", retry_after=retry_after, status_code=status, route=TOKEN_ROUTE
            )
        body = _safe_json(response)
        if status >= 500:
            self._audit(CallRecord("POST", TOKEN_ROUTE, status, "transient", latency, request_id, "server error"))
            raise AthenaTransientError("athena token endpoint failed", status_code=status, route=TOKEN_ROUTE)
        if status >= 400 or not isinstance(body, dict) or not body.get("access_token"):
            self._audit(CallRecord("POST", TOKEN_ROUTE, status, "permanent", latency, request_id, "refused"))
            raise AthenaAuthError("athena refused the client credentials", status_code=status, route=TOKEN_ROUTE)
        self._audit(CallRecord("POST", TOKEN_ROUTE, status, "success", latency, request_id))
        lifetime = float(to_int(body.get("expires_in"), 3600) or 3600)
        return CachedToken(access_token=str(body["access_token"]), expires_at=time.time() + lifetime, lifetime=lifetime)

    def _token(self) -> str:
        margin = self.config.token_refresh_margin
        token = self.token_store.current()
        if token is None or not token.fresh(margin=margin):
            token = self.token_store.refresh(self._fetch_token, margin=margin)
        return token.access_token

    def _send(
        self,
        method: str,
        route: str,
        *,
        path: str | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        write: bool = False,
        files: dict[str, Any] | None = None,
    ) -> Any:
        """One call with at most one token refresh on 401; GETs also retry transient failures."""
        attempts = 1 + (self.config.get_retries if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                return self._send_once(method, route, path=path, params=params, data=data, write=write, files=files)
            except AthenaAmbiguousError:
                raise
            except AthenaTransientError as exc:
                if attempt + 1 >= attempts:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else self.config.retry_backoff * (2**attempt)
                if wait > self.config.max_retry_wait:
                    raise
                time.sleep(wait * (0.5 + self._random.random() / 2))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self,
        method: str,
        route: str,
        *,
        path: str | None,
        params: dict[str, Any] | None,
        data: dict[str, Any] | None,
        write: bool,
        files: dict[str, Any] | None,
        auth_retry: bool = False,
    ) -> Any:
        token = self._token()
        self.rate_limiter.acquire()
        from hub import context  # plain context variables, no models

        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        correlation_id = context.get_correlation_id()
        if correlation_id:
            headers["X-Request-Id"] = correlation_id
        url = self._url(path or route)
        audit_started(self.audit_sink, method, route)
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                files=files,
                headers=headers,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except requests.RequestException as exc:
            latency = int((time.monotonic() - started) * 1000)
            sent = _was_sent(exc)
            kind = "ambiguous" if (write and sent) else "transient"
            self._audit(
                CallRecord(method, route, None, kind, latency, error=type(exc).__name__, retry_of_auth=auth_retry)
            )
            if kind == "ambiguous":
                raise AthenaAmbiguousError(
                    f"athena {method} {route} got no answer after the request was sent", route=route
                ) from exc
            raise AthenaTransientError(f"athena {method} {route} failed to connect", route=route) from exc

        latency = int((time.monotonic() - started) * 1000)
        status = response.status_code
        request_id = response.headers.get("X-Request-Id", "")
        self.rate_limiter.observe_quota(
            to_int(response.headers.get("X-RateLimit-Limit")), to_int(response.headers.get("X-RateLimit-Remaining"))
        )

        def record(outcome: str, error: str = "") -> None:
            self._audit(CallRecord(method, route, status, outcome, latency, request_id, error, auth_retry))

        common: dict[str, Any] = {"status_code": status, "route": route, "request_id": request_id}
        if status == 401 and not auth_retry:
            record("transient", "token refused")
            self.token_store.invalidate(token)
            return self._send_once(
                method, route, path=path, params=params, data=data, write=write, files=files, auth_retry=True
            )
        body = _safe_json(response)
        if status == 429:
            retry_after = _retry_after(response)
            retry_after = 1.0 if retry_after is None else retry_after
            self.rate_limiter.pause(retry_after)
            record("transient", "rate limited")
            raise AthenaTransientError(f"athena {method} {route} rate limited", retry_after=retry_after, **common)
        if status >= 500:
            if write:
                record("ambiguous", "server error")
                raise AthenaAmbiguousError(f"athena {method} {route} answered {status} to a write", **common)
            record("transient", "server error")
            raise AthenaTransientError(f"athena {method} {route} answered {status}", **common)
        if status >= 400:
            error = self._permanent_error(method, route, status, body, common)
            record("permanent", type(error).__name__)
            raise error
        if body is None and response.content.strip():
            # A 2xx whose body we cannot read: for a write we cannot tell what happened.
            kind = "ambiguous" if write else "transient"
            record(kind, "unreadable body")
            exc_type = AthenaAmbiguousError if write else AthenaTransientError
            raise exc_type(f"athena {method} {route} answered an unreadable body", **common)
        if isinstance(body, dict) and "success" in body and not to_bool(body.get("success"), True):
            # Some writes fail with HTTP 200 and {"success": "false", "errormessage": ...}.
            record("permanent", "soft failure")
            error = AthenaPermanentError(f"athena {method} {route} reported failure", **common)
            error.athena_message = to_str(body.get("errormessage"))  # type: ignore[attr-defined]
            raise error
        record("success")
        return body

    @staticmethod
    def _permanent_error(
        method: str, route: str, status: int, body: Any, common: dict[str, Any]
    ) -> AthenaPermanentError:
        body = body if isinstance(body, dict) else {}
        missing = [to_str(name) for name in body.get("missingfields") or []]
        invalid = [to_str(name) for name in body.get("invalidfields") or []]
        error_class: type[AthenaPermanentError] = AthenaPermanentError
        if status == 404:
            error_class = AthenaNotFoundError
        elif status == 409:
            error_class = AthenaSlotUnavailableError
        elif status in (401, 403) and "subscription" not in to_str(body.get("error")).lower():
            error_class = AthenaAuthError
        summary = f"athena {method} {route} answered {status}"
        if missing:
            summary += f"; missing fields: {', '.join(missing)}"
        if invalid:
            summary += f"; invalid fields: {', '.join(invalid)}"
        error = error_class(summary, missing_fields=missing, invalid_fields=invalid, **common)
        # athena's own words, for staff screens only (they can quote submitted values): never logged.
        error.athena_message = " ".join(  # type: ignore[attr-defined]
            part for part in (to_str(body.get("error")), to_str(body.get("detailedmessage"))) if part
        )
        return error

    def _paginate(
        self, route: str, collection: str, *, path: str, params: dict[str, Any] | None = None, limit: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list, following athena's `next` links to the end."""
        query: dict[str, Any] | None = {**(params or {}), "limit": limit}
        next_path: str | None = path
        while next_path:
            body = self._send("GET", route, path=next_path, params=query)
            if not isinstance(body, dict):
                return
            yield from body.get(collection) or []
            link = body.get("next")
            # `next` is a path that already carries /v1/{practiceid} and the query string.
            next_path, query = (str(link), None) if link else (None, None)

    # --- reference data ----------------------------------------------------------------------------

    def ping(self) -> bool:
        """GET /ping: athena answers {"pong": "true"}."""
        body = self._send("GET", "/v1/{practiceid}/ping", path=self._practice_path("/ping"))
        return isinstance(body, dict) and to_bool(body.get("pong"))

    def list_departments(self) -> list[AthenaDepartment]:
        """GET /departments (all, including those hidden from patients)."""
        route = "/v1/{practiceid}/departments"
        rows = self._paginate(
            route,
            "departments",
            path=self._practice_path("/departments"),
            params={"showalldepartments": "true", "providerlist": "true"},
        )
        return [AthenaDepartment.from_api(row) for row in rows]

    def get_department(self, department_id: str) -> AthenaDepartment:
        """GET /departments/{departmentid} (an array of one)."""
        route = "/v1/{practiceid}/departments/{departmentid}"
        body = self._send("GET", route, path=self._practice_path("/departments/{id}", id=department_id))
        row = first(body)
        if not row:
            raise AthenaNotFoundError(f"athena GET {route} returned nothing", route=route)
        return AthenaDepartment.from_api(row)

    def list_providers(self) -> list[AthenaProvider]:
        """GET /providers."""
        route = "/v1/{practiceid}/providers"
        rows = self._paginate(route, "providers", path=self._practice_path("/providers"))
        return [AthenaProvider.from_api(row) for row in rows]

    def get_provider(self, provider_id: str) -> AthenaProvider:
        """GET /providers/{providerid} (an array of one)."""
        route = "/v1/{practiceid}/providers/{providerid}"
        row = first(self._send("GET", route, path=self._practice_path("/providers/{id}", id=provider_id)))
        if not row:
            raise AthenaNotFoundError(f"athena GET {route} returned nothing", route=route)
        return AthenaProvider.from_api(row)

    def list_appointment_types(self) -> list[AthenaAppointmentType]:
        """GET /appointmenttypes."""
        route = "/v1/{practiceid}/appointmenttypes"
        rows = self._paginate(route, "appointmenttypes", path=self._practice_path("/appointmenttypes"))
        return [AthenaAppointmentType.from_api(row) for row in rows]

    def list_appointment_reasons(self, *, department_id: str, provider_id: str | None = None) -> list[AthenaReason]:
        """GET /patientappointmentreasons for a department (and provider)."""
        route = "/v1/{practiceid}/patientappointmentreasons"
        params = {"departmentid": department_id}
        if provider_id:
            params["providerid"] = provider_id
        rows = self._paginate(
            route, "patientappointmentreasons", path=self._practice_path("/patientappointmentreasons"), params=params
        )
        return [AthenaReason.from_api(row) for row in rows]

    def list_insurance_packages(self, *, name: str = "") -> list[AthenaInsurancePackage]:
        """GET /insurancepackages (optionally those whose plan or payer name contains `name`)."""
        route = "/v1/{practiceid}/insurancepackages"
        params = {"name": name} if name else None
        rows = self._paginate(route, "insurancepackages", path=self._practice_path("/insurancepackages"), params=params)
        return [AthenaInsurancePackage.from_api(row) for row in rows]

    # --- patients ----------------------------------------------------------------------------------

    def create_patient(self, patient: PatientWrite, *, bypass_matching: bool = False) -> str:
        """POST /patients; athena silently returns an existing patient's id on a best match."""
        route = "/v1/{practiceid}/patients"
        form = patient.to_form()
        if bypass_matching:
            form["bypasspatientmatching"] = "true"
        row = first(self._send("POST", route, path=self._practice_path("/patients"), data=form, write=True))
        patient_id = to_str((row or {}).get("patientid"))
        if not patient_id:
            raise AthenaAmbiguousError(f"athena POST {route} answered without a patient id", route=route)
        return patient_id

    def get_patient(self, patient_id: str, *, show_insurance: bool = False) -> AthenaPatient:
        """GET /patients/{patientid} (an array; the first element is the chart)."""
        route = "/v1/{practiceid}/patients/{patientid}"
        params = {"showinsurance": "true"} if show_insurance else None
        row = first(self._send("GET", route, path=self._practice_path("/patients/{id}", id=patient_id), params=params))
        if not row:
            raise AthenaNotFoundError(f"athena GET {route} returned nothing", route=route)
        return AthenaPatient.from_api(row)

    def update_patient(self, patient_id: str, changes: PatientWrite) -> None:
        """PUT /patients/{patientid} with only the fields that change."""
        route = "/v1/{practiceid}/patients/{patientid}"
        self._send(
            "PUT", route, path=self._practice_path("/patients/{id}", id=patient_id), data=changes.to_form(), write=True
        )

    def search_patients(self, *, department_id: str | None = None, **filters: str) -> Iterator[AthenaPatient]:
        """GET /patients with athena's search filters (e.g. departmentid, lastname, dob)."""
        route = "/v1/{practiceid}/patients"
        params = {key: value for key, value in filters.items() if value}
        if department_id:
            params["departmentid"] = department_id
        for row in self._paginate(route, "patients", path=self._practice_path("/patients"), params=params, limit=1000):
            yield AthenaPatient.from_api(row)

    def enhanced_best_match(
        self,
        *,
        first_name: str,
        last_name: str,
        dob: dt.date,
        department_id: str = "",
        email: str = "",
        mobile_phone: str = "",
        home_phone: str = "",
        zip_code: str = "",
        ssn: str = "",
        return_best_matches: bool = True,
    ) -> list[AthenaPatient]:
        """GET /patients/enhancedbestmatch: candidates with a `score` (≥ 26 is athena's automatch)."""
        route = "/v1/{practiceid}/patients/enhancedbestmatch"
        params = {
            "firstname": first_name,
            "lastname": last_name,
            "dob": from_date(dob),
            "departmentid": department_id,
            "email": email,
            "mobilephone": mobile_phone,
            "homephone": home_phone,
            "zip": zip_code,
            "ssn": ssn,
            "returnbestmatches": from_bool(return_best_matches),
        }
        body = self._send(
            "GET",
            route,
            path=self._practice_path("/patients/enhancedbestmatch"),
            params={k: v for k, v in params.items() if v},
        )
        rows = body if isinstance(body, list) else []
        return [AthenaPatient.from_api(row) for row in rows]

    # --- insurances ----------------------------------------------------------------------------------

    def list_insurances(self, patient_id: str, *, show_cancelled: bool = False) -> list[AthenaInsurance]:
        """GET /patients/{patientid}/insurances."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances"
        params = {"showcancelled": "true"} if show_cancelled else {}
        rows = self._paginate(
            route,
            "insurances",
            path=self._practice_path("/patients/{id}/insurances", id=patient_id),
            params=params,
            limit=100,
        )
        return [AthenaInsurance.from_api(row) for row in rows]

    def create_insurance(self, patient_id: str, insurance: InsuranceWrite) -> AthenaInsurance | None:
        """POST /patients/{patientid}/insurances (answers the created insurance; older athena: success only)."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances"
        body = self._send(
            "POST",
            route,
            path=self._practice_path("/patients/{id}/insurances", id=patient_id),
            data=insurance.to_form(),
            write=True,
        )
        row = first(body)
        if isinstance(row, dict) and row.get("insuranceid"):
            return AthenaInsurance.from_api(row)
        return None

    def update_insurance(self, patient_id: str, insurance_id: str, changes: dict[str, str]) -> None:
        """PUT /patients/{patientid}/insurances/{insuranceid} (athena field names in `changes`)."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}"
        path = self._practice_path("/patients/{pid}/insurances/{iid}", pid=patient_id, iid=insurance_id)
        self._send("PUT", route, path=path, data=changes, write=True)

    def cancel_insurance(self, patient_id: str, insurance_id: str, *, note: str = "") -> None:
        """DELETE /patients/{patientid}/insurances/{insuranceid}: athena marks it cancelled."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}"
        path = self._practice_path("/patients/{pid}/insurances/{iid}", pid=patient_id, iid=insurance_id)
        self._send("DELETE", route, path=path, data={"cancellationnote": note} if note else None, write=True)

    def upload_insurance_card(self, patient_id: str, insurance_id: str, *, image: bytes, department_id: str) -> None:
        """POST /patients/{patientid}/insurances/{insuranceid}/image (base64, form-encoded)."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/image"
        path = self._practice_path("/patients/{pid}/insurances/{iid}/image", pid=patient_id, iid=insurance_id)
        data = {"image": base64.b64encode(image).decode(), "departmentid": department_id}
        self._send("POST", route, path=path, data=data, write=True)

    def get_insurance_card(self, patient_id: str, insurance_id: str) -> bytes:
        """GET the insurance card image; AthenaNotFoundError when there is none."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/image"
        path = self._practice_path("/patients/{pid}/insurances/{iid}/image", pid=patient_id, iid=insurance_id)
        body = self._send("GET", route, path=path)
        return base64.b64decode(to_str((body or {}).get("image")))

    def request_benefit_details(
        self, patient_id: str, insurance_id: str, *, service_type: str, date_of_service: dt.date
    ) -> None:
        """POST …/benefitdetails: ask athena to run a real-time 270 (the answer arrives later)."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/benefitdetails"
        path = self._practice_path("/patients/{pid}/insurances/{iid}/benefitdetails", pid=patient_id, iid=insurance_id)
        data = {"servicetypecode": service_type, "dateofservice": from_date(date_of_service)}
        self._send("POST", route, path=path, data=data, write=True)

    def get_benefit_details(
        self, patient_id: str, insurance_id: str, *, service_type: str, date_of_service: dt.date
    ) -> BenefitDetails:
        """GET …/benefitdetails: the raw 271 of the last check (AthenaNotFoundError when none)."""
        route = "/v1/{practiceid}/patients/{patientid}/insurances/{insuranceid}/benefitdetails"
        path = self._practice_path("/patients/{pid}/insurances/{iid}/benefitdetails", pid=patient_id, iid=insurance_id)
        params = {"servicetypecode": service_type, "dateofservice": from_date(date_of_service)}
        return BenefitDetails.from_api(self._send("GET", route, path=path, params=params) or {})

    # --- scheduling ---------------------------------------------------------------------------------

    def list_open_slots(
        self,
        *,
        department_id: str,
        start_date: dt.date,
        end_date: dt.date,
        provider_ids: list[str] | None = None,
        reason_ids: list[str] | None = None,
        appointment_type_id: str | None = None,
        bypass_schedule_checks: bool = False,
    ) -> list[AthenaAppointment]:
        """GET /appointments/open (needs a reason or an appointment type, else athena returns nothing)."""
        route = "/v1/{practiceid}/appointments/open"
        params: dict[str, str] = {
            "departmentid": department_id,
            "startdate": from_date(start_date),
            "enddate": from_date(end_date),
        }
        if provider_ids:
            params["providerid"] = ",".join(provider_ids)
        if reason_ids:
            params["reasonid"] = ",".join(reason_ids)
        if appointment_type_id:
            params["appointmenttypeid"] = appointment_type_id
        if bypass_schedule_checks:
            params["bypassscheduletimechecks"] = "true"
        rows = self._paginate(route, "appointments", path=self._practice_path("/appointments/open"), params=params)
        return [AthenaAppointment.from_api(row) for row in rows]

    def get_appointment(self, appointment_id: str) -> AthenaAppointment:
        """GET /appointments/{appointmentid} (an array of one; status "o" for an open slot)."""
        route = "/v1/{practiceid}/appointments/{appointmentid}"
        row = first(self._send("GET", route, path=self._practice_path("/appointments/{id}", id=appointment_id)))
        if not row:
            raise AthenaNotFoundError(f"athena GET {route} returned nothing", route=route)
        return AthenaAppointment.from_api(row)

    def book_appointment(
        self,
        appointment_id: str,
        *,
        patient_id: str,
        appointment_type_id: str | None = None,
        reason_id: str | None = None,
        department_id: str | None = None,
        booking_note: str = "",
    ) -> AthenaAppointment:
        """PUT /appointments/{appointmentid}: book an open slot (409 → AthenaSlotUnavailableError)."""
        route = "/v1/{practiceid}/appointments/{appointmentid}"
        data = {"patientid": patient_id}
        if appointment_type_id:
            data["appointmenttypeid"] = appointment_type_id
        if reason_id:
            data["reasonid"] = reason_id
        if department_id:
            data["departmentid"] = department_id
        if booking_note:
            data["bookingnote"] = booking_note
        body = self._send(
            "PUT", route, path=self._practice_path("/appointments/{id}", id=appointment_id), data=data, write=True
        )
        row = first(body)
        if not isinstance(row, dict):
            raise AthenaAmbiguousError(f"athena PUT {route} answered without the booked appointment", route=route)
        return AthenaAppointment.from_api(row)

    def list_booked_appointments(
        self,
        *,
        department_ids: list[str],
        start_date: dt.date,
        end_date: dt.date,
        patient_id: str | None = None,
        show_cancelled: bool = False,
    ) -> Iterator[AthenaAppointment]:
        """GET /appointments/booked for departments and a date range."""
        route = "/v1/{practiceid}/appointments/booked"
        params: dict[str, str] = {
            "departmentid": ",".join(department_ids),
            "startdate": from_date(start_date),
            "enddate": from_date(end_date),
        }
        if patient_id:
            params["patientid"] = patient_id
        if show_cancelled:
            params["showcancelled"] = "true"
        for row in self._paginate(
            route, "appointments", path=self._practice_path("/appointments/booked"), params=params
        ):
            yield AthenaAppointment.from_api(row)

    def cancel_appointment(self, appointment_id: str, *, patient_id: str, reason: str = "") -> None:
        """PUT /appointments/{appointmentid}/cancel."""
        route = "/v1/{practiceid}/appointments/{appointmentid}/cancel"
        data = {"patientid": patient_id}
        if reason:
            data["cancellationreason"] = reason
        path = self._practice_path("/appointments/{id}/cancel", id=appointment_id)
        self._send("PUT", route, path=path, data=data, write=True)

    def reschedule_appointment(
        self, appointment_id: str, *, new_appointment_id: str, patient_id: str, reason: str = ""
    ) -> AthenaAppointment:
        """PUT /appointments/{appointmentid}/reschedule onto another open slot."""
        route = "/v1/{practiceid}/appointments/{appointmentid}/reschedule"
        data = {"newappointmentid": new_appointment_id, "patientid": patient_id}
        if reason:
            data["reschedulereason"] = reason
        path = self._practice_path("/appointments/{id}/reschedule", id=appointment_id)
        row = first(self._send("PUT", route, path=path, data=data, write=True))
        if not isinstance(row, dict):
            raise AthenaAmbiguousError(f"athena PUT {route} answered without the new appointment", route=route)
        return AthenaAppointment.from_api(row)

    def check_in(self, appointment_id: str) -> None:
        """POST /appointments/{appointmentid}/checkin (status becomes 2)."""
        route = "/v1/{practiceid}/appointments/{appointmentid}/checkin"
        self._send("POST", route, path=self._practice_path("/appointments/{id}/checkin", id=appointment_id), write=True)

    def start_check_in(self, appointment_id: str) -> None:
        """POST /appointments/{appointmentid}/startcheckin."""
        route = "/v1/{practiceid}/appointments/{appointmentid}/startcheckin"
        path = self._practice_path("/appointments/{id}/startcheckin", id=appointment_id)
        self._send("POST", route, path=path, write=True)

    def check_out(self, appointment_id: str) -> None:
        """POST /appointments/{appointmentid}/checkout (status becomes 3)."""
        route = "/v1/{practiceid}/appointments/{appointmentid}/checkout"
        self._send(
            "POST", route, path=self._practice_path("/appointments/{id}/checkout", id=appointment_id), write=True
        )

    # --- changed-data feeds ------------------------------------------------------------------------

    def subscribe(self, feed: str, *, event_name: str | None = None) -> None:
        """POST /{feed}/changed/subscription (all events when no name is given)."""
        route = f"/v1/{{practiceid}}/{feed}/changed/subscription"
        data = {"eventname": event_name} if event_name else None
        path = self._practice_path(f"/{feed}/changed/subscription")
        self._send("POST", route, path=path, data=data, write=True)

    def subscription_status(self, feed: str) -> SubscriptionStatus:
        """GET /{feed}/changed/subscription."""
        route = f"/v1/{{practiceid}}/{feed}/changed/subscription"
        body = self._send("GET", route, path=self._practice_path(f"/{feed}/changed/subscription")) or {}
        names = tuple(to_str(item.get("eventname")) for item in body.get("subscriptions") or [])
        return SubscriptionStatus(status=to_str(body.get("status")) or "INACTIVE", event_names=names)

    def list_changed(
        self,
        feed: str,
        *,
        leave_unprocessed: bool = False,
        department_ids: list[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """GET /{feed}/changed: records not yet delivered to this key (a destructive read).

        With `limit`, one page of at most that many records (the oldest), and no `next` link
        is followed: the next read returns the next records.
        """
        route = f"/v1/{{practiceid}}/{feed}/changed"
        params: dict[str, str] = {}
        if leave_unprocessed:
            params["leaveunprocessed"] = "true"
        if department_ids:
            params["departmentid"] = ",".join(department_ids)
        collection = feed.split("/")[-1]
        path = self._practice_path(f"/{feed}/changed")
        if limit is not None:
            body = self._send("GET", route, path=path, params={**params, "limit": limit})
            return list(body.get(collection) or []) if isinstance(body, dict) else []
        return list(self._paginate(route, collection, path=path, params=params))

    def list_changed_patients(self, **kwargs: Any) -> list[AthenaPatient]:
        """The patients changed feed, as patients."""
        return [AthenaPatient.from_api(row) for row in self.list_changed("patients", **kwargs)]

    def list_changed_appointments(self, **kwargs: Any) -> list[AthenaAppointment]:
        """The appointments changed feed, as appointments (cancelled ones included)."""
        return [AthenaAppointment.from_api(row) for row in self.list_changed("appointments", **kwargs)]


__all__ = ["AthenaClient", "AthenaConfig", "AthenaError"]
