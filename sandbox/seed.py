"""The seeded synthetic world: one practice, 15 departments, providers, schedules, patients, insurances.

Everything comes from `random.Random(seed)` drawn in a fixed order, so the same seed and the same
seed date always give the same rows. All people, numbers and payers are invented: phone numbers sit in
the reserved 555-01xx range, e-mail addresses under example.test / example.com, SSNs start with 9
(never issued), payers are named EXAMPLE / SAMPLE / DEMO.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.common import EASTERN, athena_date, athena_datetime, digits, local_timestamp, parse_athena_date
from sandbox.db import Transaction, meta_set


@dataclass(frozen=True)
class DepartmentSeed:
    departmentid: int
    name: str
    city: str
    state: str
    timezone: str
    zip: str
    area_code: str
    street: str
    kind: str
    latitude: str
    longitude: str


# fmt: off
DEPARTMENTS: tuple[DepartmentSeed, ...] = (
    DepartmentSeed(1, "Harbor Family Medicine", "Boston", "MA", "America/New_York", "02110", "617",
                   "100 Harbor Way", "family", "42.3571", "-71.0510"),
    DepartmentSeed(21, "Riverside Pediatrics", "Hartford", "CT", "America/New_York", "06103", "860",
                   "21 Riverside Dr", "pediatrics", "41.7658", "-72.6734"),
    DepartmentSeed(102, "Lakeside Internal Medicine", "Cleveland", "OH", "America/New_York", "44114", "216",
                   "102 Lakeside Ave", "internal", "41.5051", "-81.6934"),
    DepartmentSeed(145, "Peachtree Primary Care", "Atlanta", "GA", "America/New_York", "30303", "404",
                   "145 Peachtree St NE", "family", "33.7537", "-84.3863"),
    DepartmentSeed(148, "Magnolia Women's Health", "Miami", "FL", "America/New_York", "33130", "305",
                   "148 Magnolia Blvd", "womens", "25.7677", "-80.2010"),
    DepartmentSeed(150, "Prairie Family Practice", "Omaha", "NE", "America/Chicago", "68102", "402",
                   "150 Prairie Ln", "family", "41.2587", "-95.9378"),
    DepartmentSeed(157, "Lone Star Clinic", "Austin", "TX", "America/Chicago", "78701", "512",
                   "157 Congress Ave", "family", "30.2700", "-97.7431"),
    DepartmentSeed(162, "Great Lakes Cardiology", "Chicago", "IL", "America/Chicago", "60601", "312",
                   "162 Lake Shore Dr", "cardiology", "41.8858", "-87.6181"),
    DepartmentSeed(170, "Bluebonnet Urgent Care", "Dallas", "TX", "America/Chicago", "75201", "214",
                   "170 Bluebonnet Rd", "urgent", "32.7876", "-96.7994"),
    DepartmentSeed(182, "Front Range Medical", "Denver", "CO", "America/Denver", "80202", "303",
                   "182 Front Range Pkwy", "family", "39.7508", "-104.9966"),
    DepartmentSeed(195, "Desert Sun Health", "Phoenix", "AZ", "America/Phoenix", "85004", "602",
                   "195 Desert Sun Blvd", "family", "33.4515", "-112.0685"),
    DepartmentSeed(203, "Cascade Family Health", "Seattle", "WA", "America/Los_Angeles", "98101", "206",
                   "203 Cascade Ave", "family", "47.6101", "-122.3344"),
    DepartmentSeed(211, "Bay Area Primary Care", "Oakland", "CA", "America/Los_Angeles", "94612", "510",
                   "211 Bayview St", "internal", "37.8044", "-122.2712"),
    DepartmentSeed(224, "Willamette Clinic", "Portland", "OR", "America/Los_Angeles", "97204", "503",
                   "224 Willamette St", "family", "45.5187", "-122.6780"),
    DepartmentSeed(236, "Aloha Community Health", "Honolulu", "HI", "Pacific/Honolulu", "96813", "808",
                   "236 Aloha Pkwy", "family", "21.3069", "-157.8583"),
)

# fmt: on

ATHENA_TIMEZONE_NAMES = {
    "America/New_York": "US/Eastern",
    "America/Chicago": "US/Central",
    "America/Denver": "US/Mountain",
    "America/Phoenix": "US/Arizona",
    "America/Los_Angeles": "US/Pacific",
    "Pacific/Honolulu": "US/Hawaii",
}

# appointmenttypeid, name, shortname, duration, patient display name
APPOINTMENT_TYPES: tuple[tuple[int, str, str, int, str], ...] = (
    (2, "Office Visit", "OV", 15, "Office Visit"),
    (4, "New Patient Visit", "NPV", 30, "New Patient Visit"),
    (7, "Annual Physical", "PHYS", 30, "Annual Physical Exam"),
    (12, "Telehealth Visit", "TELE", 15, "Video Visit"),
    (15, "Follow-Up Visit", "FU", 15, "Follow-Up Visit"),
    (21, "Sick Visit", "SICK", 15, "Sick Visit"),
    (31, "Well Child Visit", "WCC", 30, "Well Child Visit"),
    (44, "Well Woman Exam", "WWE", 30, "Well Woman Exam"),
    (52, "Cardiology Consult", "CARD", 30, "Heart Health Consultation"),
    (82, "Any 15", "ANY15", 15, "Any 15"),
)

# reasonid, reason, description, reasontype, appointmenttypeid, schedulingminhours, schedulingmaxdays
REASONS: tuple[tuple[int, str, str, str, int, int, int], ...] = (
    (563, "Follow-up visit", "I need to follow up with my provider about a condition.", "existing", 15, 24, 90),
    (601, "New patient visit", "I am new to this clinic and would like to establish care.", "new", 4, 24, 90),
    (602, "Annual physical", "I would like my yearly check-up.", "all", 7, 24, 90),
    (603, "Sick visit", "I am feeling unwell and would like to be seen soon.", "all", 21, 2, 14),
    (604, "Video visit", "I would like to see my provider by video.", "all", 12, 24, 60),
    (605, "Well child visit", "My child needs a routine check-up.", "all", 31, 24, 90),
    (606, "Office visit", "I need to see my provider about something else.", "existing", 2, 24, 90),
    (607, "Well woman exam", "I would like my routine women's health exam.", "all", 44, 24, 90),
    (608, "Heart health consultation", "My doctor referred me for a heart check.", "new", 52, 48, 90),
)

# appointmentcancelreasonid, name, noshow, patientrescheduled, providerunavailable, slotavailable
CANCEL_REASONS: tuple[tuple[int, str, bool, bool, bool, bool], ...] = (
    (1, "PATIENT CANCELLED", False, False, False, True),
    (2, "PATIENT NO SHOW", True, False, False, False),
    (3, "PATIENT RESCHEDULED", False, True, False, True),
    (4, "PROVIDER UNAVAILABLE", False, False, True, False),
    (5, "SCHEDULING ERROR", False, False, False, True),
    (6, "WEATHER", False, False, False, False),
)

# insurancepackageid, plan name, payer name, payer id, insurance type, member-id prefix, plan description
INSURANCE_PACKAGES: tuple[tuple[int, str, str, str, str, str, str], ...] = (
    (1001, "EXAMPLE HEALTH PLAN PPO", "EXAMPLE HEALTH PLAN", "EX001", "Commercial", "EXH", "SILVER PPO 2500"),
    (1002, "EXAMPLE HEALTH PLAN HMO", "EXAMPLE HEALTH PLAN", "EX001", "Commercial", "EXH", "GOLD HMO 1000"),
    (1010, "SAMPLE MUTUAL CHOICE", "SAMPLE MUTUAL INSURANCE", "SM002", "Commercial", "SMI", "CHOICE PLUS 3000"),
    (1020, "DEMO BLUE SHIELD EPO", "DEMO BLUE SHIELD", "DB003", "Commercial", "DBS", "BLUE EPO 2000"),
    (1030, "PLACEHOLDER CARE POS", "PLACEHOLDER CARE", "PC004", "Commercial", "PLC", "POS 1500"),
    (1040, "DEMO MEDICARE ADVANTAGE", "DEMO SENIOR HEALTH", "DM005", "Medicare Advantage", "DMA", "MA HMO"),
    (1050, "SAMPLE STATE MEDICAID", "SAMPLE STATE MEDICAID", "MC006", "Medicaid", "SSM", "MEDICAID STANDARD"),
    (1060, "SYNTHETIC MEDICARE PART B", "SYNTHETIC MEDICARE", "MB007", "Medicare Part B", "SMB", "PART B"),
    (1070, "FICTIONAL EMPLOYER TRUST", "FICTIONAL EMPLOYER TRUST", "FE008", "Commercial", "FET", "HDHP 5000"),
    (1099, "*SELF PAY*", "SELF PAY", "", "Self Pay", "", ""),
)
SELF_PAY_PACKAGE_ID = 1099

ELIGIBILITY_CASES = ("active", "inactive", "reject72", "reject75", "cob", "auth_required")
_ELIGIBILITY_WEIGHTS = (60, 10, 7, 7, 8, 8)

_SPECIALTIES = {
    "family": ("Family Medicine", "207Q00000X", "008"),
    "pediatrics": ("Pediatrics", "208000000X", "037"),
    "internal": ("Internal Medicine", "207R00000X", "011"),
    "womens": ("Obstetrics & Gynecology", "207V00000X", "016"),
    "cardiology": ("Cardiovascular Disease", "207RC0000X", "006"),
    "urgent": ("Family Medicine", "207Q00000X", "008"),
}
_MIDLEVELS = {"NP": ("Nurse Practitioner", "363L00000X", "050"), "PA": ("Physician Assistant", "363A00000X", "097")}

# Slot appointment types by department kind, with weights.
_SLOT_TYPES = {
    "family": {2: 4, 82: 2, 15: 3, 4: 2, 7: 2, 12: 1},
    "pediatrics": {2: 3, 31: 3, 21: 2, 4: 1, 12: 1},
    "internal": {2: 4, 15: 3, 4: 2, 7: 2, 12: 1},
    "womens": {2: 3, 44: 3, 15: 2, 4: 1},
    "cardiology": {52: 3, 15: 3, 2: 2, 12: 1},
    "urgent": {21: 5, 82: 2, 2: 1},
}

# fmt: off
FEMALE_NAMES = (
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper", "Evelyn", "Abigail", "Emily",
    "Ella", "Elizabeth", "Camila", "Luna", "Sofia", "Avery", "Mila", "Aria", "Scarlett", "Penelope", "Layla",
    "Chloe", "Victoria", "Madison", "Eleanor", "Grace", "Nora", "Riley", "Zoey", "Hannah", "Hazel", "Lily",
    "Ellie", "Violet", "Lillian", "Zoe", "Stella", "Aurora", "Natalie", "Emilia", "Everly", "Leah", "Aubrey",
    "Maria", "Rosa", "Linda", "Patricia", "Barbara", "Susan", "Margaret", "Dorothy", "Nancy", "Karen", "Carmen",
    "Ana", "Keiko", "Leilani", "Priya", "Mei",
)
MALE_NAMES = (
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry", "Theodore", "Jack",
    "Levi", "Alexander", "Jackson", "Mateo", "Daniel", "Michael", "Mason", "Sebastian", "Ethan", "Logan", "Owen",
    "Samuel", "Jacob", "Asher", "Aiden", "John", "Joseph", "Wyatt", "David", "Leo", "Luke", "Julian", "Hudson",
    "Grayson", "Matthew", "Ezra", "Gabriel", "Carter", "Isaac", "Jayden", "Luca", "Anthony", "Dylan", "Lincoln",
    "Robert", "Richard", "Thomas", "Charles", "George", "Edward", "Ronald", "Kenneth", "Carlos", "Jose",
    "Miguel", "Hiroshi", "Kai", "Arjun", "Wei",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips",
    "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly",
    "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James",
    "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers",
    "Long", "Ross", "Foster", "Kealoha", "Tanaka", "Chen", "Okafor", "Novak", "Lindqvist",
)
STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Ave", "Lake Rd", "Hill St",
    "Park Ave", "Sunset Blvd", "River Rd", "Willow Way", "Birch Ct", "Spruce St", "Chestnut St", "Highland Ave",
    "Meadow Ln", "Forest Dr", "Church St",
)
# fmt: on
MARITAL = (("S", "SINGLE"), ("M", "MARRIED"), ("D", "DIVORCED"), ("W", "WIDOWED"))


def npi_check_digit(base9: str) -> str:
    """The tenth NPI digit: Luhn over the prefix 80840 followed by the nine base digits."""
    payload = "80840" + base9
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:  # these positions are doubled once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def npi_is_valid(npi: str) -> bool:
    """Luhn check over 80840 + the ten NPI digits."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed("80840" + npi)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def department_timezone(department: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(department["_tz"])


def resolve_seed_date(seed_date: str | None, now_timestamp: float) -> dt.date:
    if seed_date:
        return dt.date.fromisoformat(seed_date)
    return dt.datetime.fromtimestamp(now_timestamp, tz=EASTERN).date()


class _Ids:
    def __init__(self, start: int) -> None:
        self.value = start - 1

    def next(self) -> int:
        self.value += 1
        return self.value


def seed_world(tx: Transaction, *, seed: int, seed_date: dt.date, practice_name: str, now: float) -> dict[str, int]:
    """Fill an empty database with the synthetic world for `seed`; returns row counts."""
    rng = random.Random(seed)
    base_time = dt.datetime(seed_date.year, seed_date.month, seed_date.day, 6, 0, tzinfo=EASTERN).timestamp()
    meta_set(tx, "seed", str(seed))
    meta_set(tx, "seed_date", seed_date.isoformat())
    meta_set(tx, "seeded_at", str(now))

    departments = _seed_departments(tx, practice_name)
    providers = _seed_providers(tx, rng, departments)
    _seed_reference(tx)
    patients = _seed_patients(tx, rng, departments, providers, base_time)
    insurances = _seed_insurances(tx, rng, patients, base_time)
    slots, booked = _seed_schedule(tx, rng, departments, providers, patients, seed_date, base_time)
    return {
        "departments": len(departments),
        "providers": len(providers),
        "patients": len(patients),
        "insurances": insurances,
        "appointments": slots,
        "booked": booked,
    }


def _seed_departments(tx: Transaction, practice_name: str) -> list[DepartmentSeed]:
    for dep in DEPARTMENTS:
        zone = ZoneInfo(dep.timezone)
        january = dt.datetime(2025, 1, 15, 12, tzinfo=zone).utcoffset() or dt.timedelta()
        july = dt.datetime(2025, 7, 15, 12, tzinfo=zone).utcoffset() or dt.timedelta()
        urgent = dep.kind == "urgent"
        data = {
            "departmentid": str(dep.departmentid),
            "name": dep.name,
            "patientdepartmentname": dep.name,
            "address": dep.street,
            "address2": f"Suite {100 + dep.departmentid % 90}",
            "city": dep.city,
            "state": dep.state,
            "zip": dep.zip,
            "phone": f"({dep.area_code}) 555-0100",
            "fax": f"({dep.area_code}) 555-0199",
            "timezoneoffset": int(january.total_seconds() // 3600),
            "doesnotobservedst": january == july,
            "providergroupid": "1",
            "providergroupname": practice_name,
            "placeofservicetypeid": "20" if urgent else "11",
            "placeofservicetypename": "URGENT CARE FACILITY" if urgent else "OFFICE",
            "placeofservicefacility": False,
            "clinicals": "ON",
            "ishospitaldepartment": False,
            "servicedepartment": True,
            "medicationhistoryconsent": False,
            "chartsharinggroupid": "1",
            "communicatorbrandid": "1",
            "portalurl": "https://portal.example.test/",
            "latitude": dep.latitude,
            "longitude": dep.longitude,
            "_tz": dep.timezone,
            "_kind": dep.kind,
        }
        tx.execute("INSERT INTO departments (departmentid, data) VALUES (?, ?)", (dep.departmentid, json.dumps(data)))
    return list(DEPARTMENTS)


def _seed_providers(tx: Transaction, rng: random.Random, departments: list[DepartmentSeed]) -> dict[int, list[int]]:
    """2-4 providers per department (about 42 in all); the first two ids are 71 and 86 as in athena's sandbox."""
    by_department: dict[int, list[int]] = {}
    next_id = 71
    used_usernames: set[str] = set()
    for dep in departments:
        count = rng.choices((2, 3, 4), weights=(4, 4, 2))[0]
        by_department[dep.departmentid] = []
        for position in range(count):
            providerid = next_id
            next_id = 86 if next_id == 71 else next_id + rng.randint(3, 17)
            sex = rng.choice("FM")
            first = rng.choice(FEMALE_NAMES if sex == "F" else MALE_NAMES)
            last = rng.choice(LAST_NAMES)
            credential = "MD" if position == 0 else rng.choices(("MD", "DO", "NP", "PA"), weights=(5, 2, 2, 1))[0]
            if credential in _MIDLEVELS:
                specialty, taxonomy, specialtyid = _MIDLEVELS[credential]
            else:
                specialty, taxonomy, specialtyid = _SPECIALTIES[dep.kind]
            base9 = str(rng.choice((1, 1, 1, 2))) + "".join(str(rng.randint(0, 9)) for _ in range(8))
            npi = base9 + npi_check_digit(base9)
            username = f"{first[0]}{last}".lower()
            while username in used_usernames:
                username += "1"
            used_usernames.add(username)
            data = {
                "providerid": str(providerid),
                "firstname": first,
                "lastname": last,
                "displayname": f"{first} {last}, {credential}",
                "sex": sex,
                "npi": int(npi),
                "specialty": specialty,
                "specialtyid": specialtyid,
                "ansispecialtycode": taxonomy,
                "ansinamecode": f"{specialty} ({taxonomy})",
                "providertype": credential,
                "providertypeid": credential,
                "billable": True,
                "entitytype": "Person",
                "schedulingname": f"{last}{first[0]}",
                "providerusername": username,
                "hideinportal": False,
                "acceptingnewpatients": rng.random() < 0.8,
                "createencounteroncheckin": True,
                "homedepartment": dep.name,
                "_departmentid": dep.departmentid,
            }
            if credential in _MIDLEVELS and by_department[dep.departmentid]:
                data["supervisingproviderid"] = str(by_department[dep.departmentid][0])
            tx.execute(
                "INSERT INTO providers (providerid, departmentid, data) VALUES (?, ?, ?)",
                (providerid, dep.departmentid, json.dumps(data)),
            )
            by_department[dep.departmentid].append(providerid)
    return by_department


def _seed_reference(tx: Transaction) -> None:
    for typeid, name, shortname, duration, display in APPOINTMENT_TYPES:
        data = {
            "appointmenttypeid": str(typeid),
            "name": name,
            "shortname": shortname,
            "duration": duration,
            "patientdisplayname": display,
            "generic": typeid == 82,
            "patient": True,
            "templatetypeonly": False,
        }
        tx.execute("INSERT INTO appointment_types (appointmenttypeid, data) VALUES (?, ?)", (typeid, json.dumps(data)))
    for reasonid, reason, description, reasontype, typeid, minhours, maxdays in REASONS:
        data = {
            "reasonid": str(reasonid),
            "reason": reason,
            "description": description,
            "reasontype": reasontype,
            "schedulingminhours": minhours,
            "schedulingmaxdays": maxdays,
        }
        tx.execute(
            "INSERT INTO reasons (reasonid, reasontype, appointmenttypeid, data) VALUES (?, ?, ?, ?)",
            (reasonid, reasontype, typeid, json.dumps(data)),
        )
    for reasonid, name, noshow, rescheduled, unavailable, slotavailable in CANCEL_REASONS:
        data = {
            "appointmentcancelreasonid": str(reasonid),
            "name": name,
            "noshow": noshow,
            "patientrescheduled": rescheduled,
            "providerunavailable": unavailable,
            "slotavailable": slotavailable,
        }
        tx.execute(
            "INSERT INTO cancel_reasons (appointmentcancelreasonid, data) VALUES (?, ?)", (reasonid, json.dumps(data))
        )
    for index, (packageid, plan, payer, payerid, kind, prefix, description) in enumerate(INSURANCE_PACKAGES):
        selfpay = packageid == SELF_PAY_PACKAGE_ID
        data = {
            "insurancepackageid": str(packageid),
            "name": plan,
            "insuranceplanname": plan,
            "insuranceplandisplayname": plan.title() if not selfpay else "Self Pay",
            "insurancetype": kind,
            "ircname": payer.title(),
            "ircid": str(900 + index),
            "payername": payer,
            "payerid": payerid,
            "address1": "" if selfpay else f"PO BOX {packageid}",
            "city": "" if selfpay else "SPRINGFIELD",
            "state": "" if selfpay else "IL",
            "zip": "" if selfpay else f"627{index:02d}",
            "phone": "" if selfpay else f"(800) 555-01{index:02d}",
            "_member_prefix": prefix,
            "_plan_description": description,
            "_selfpay": selfpay,
        }
        tx.execute(
            "INSERT INTO insurance_packages (insurancepackageid, data) VALUES (?, ?)", (packageid, json.dumps(data))
        )


def _phone(rng: random.Random, area_code: str) -> str:
    return f"{area_code}55501{rng.randint(0, 99):02d}"


def _seed_patients(
    tx: Transaction,
    rng: random.Random,
    departments: list[DepartmentSeed],
    providers: dict[int, list[int]],
    base_time: float,
) -> list[dict[str, Any]]:
    """About 300 patients; pediatric patients are children with a parent as guarantor."""
    ids = _Ids(5001)
    patients: list[dict[str, Any]] = []
    seed_year = dt.datetime.fromtimestamp(base_time, tz=EASTERN).year
    for dep in departments:
        count = rng.randint(16, 24)
        for _ in range(count):
            patientid = ids.next()
            sex = rng.choice("FM")
            first = rng.choice(FEMALE_NAMES if sex == "F" else MALE_NAMES)
            last = rng.choice(LAST_NAMES)
            if dep.kind == "pediatrics":
                age = rng.randint(0, 17)
            elif dep.kind == "cardiology":
                age = rng.randint(40, 90)
            else:
                age = rng.choices((rng.randint(1, 17), rng.randint(18, 64), rng.randint(65, 92)), weights=(2, 6, 2))[0]
            dob = dt.date(seed_year - age, rng.randint(1, 12), rng.randint(1, 28))
            street = f"{rng.randint(10, 9899)} {rng.choice(STREETS)}"
            zip_code = dep.zip[:3] + f"{int(dep.zip[3:]) + rng.randint(0, 9):02d}"
            mobile = _phone(rng, dep.area_code)
            home = _phone(rng, dep.area_code) if rng.random() < 0.45 else ""
            domain = "example.test" if rng.random() < 0.7 else "example.com"
            email = f"{first}.{last}{rng.randint(1, 99)}@{domain}".lower() if rng.random() < 0.85 else ""
            marital = MARITAL[0] if age < 18 else rng.choice(MARITAL)
            registered = base_time - rng.randint(30, 3000) * 86400
            minor = age < 18
            guarantor_first = rng.choice(FEMALE_NAMES + MALE_NAMES) if minor else first
            guarantor_dob = dt.date(dob.year - rng.randint(22, 40), rng.randint(1, 12), rng.randint(1, 28))
            data: dict[str, Any] = {
                "patientid": str(patientid),
                "firstname": first,
                "middlename": rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.4 else "",
                "lastname": last,
                "sex": sex,
                "dob": athena_date(dob),
                "email": email,
                "emailexists": bool(email),
                "homephone": home,
                "mobilephone": mobile,
                "hasmobileyn": True,
                "address1": street,
                "address2": "",
                "city": dep.city.upper(),
                "state": dep.state,
                "zip": zip_code,
                "countrycode": "USA",
                "countrycode3166": "US",
                "departmentid": str(dep.departmentid),
                "primarydepartmentid": str(dep.departmentid),
                "primaryproviderid": str(rng.choice(providers[dep.departmentid])),
                "status": "active",
                "maritalstatus": marital[0],
                "maritalstatusname": marital[1],
                "language6392code": rng.choices(("eng", "spa", "vie", "chi"), weights=(85, 10, 3, 2))[0],
                "consenttotext": rng.random() < 0.7,
                "consenttocall": True,
                "portalaccessgiven": rng.random() < 0.6,
                "privacyinformationverified": rng.random() < 0.9,
                "contactpreference": "MOBILEPHONE",
                "registrationdate": athena_date(dt.datetime.fromtimestamp(registered, tz=EASTERN).date()),
                "guarantorfirstname": guarantor_first,
                "guarantorlastname": last,
                "guarantordob": athena_date(guarantor_dob if minor else dob),
                "guarantorrelationshiptopatient": "3" if minor else "1",
                "guarantoraddresssameaspatient": True,
                "guarantoraddress1": street,
                "guarantorcity": dep.city.upper(),
                "guarantorstate": dep.state,
                "guarantorzip": zip_code,
                "guarantorphone": mobile,
                "guarantoremail": email,
                "guarantorcountrycode": "USA",
                "guarantorcountrycode3166": "US",
                "balances": [
                    {
                        "balance": f"{rng.choice((0, 0, 0, 15, 25, 40)):.2f}",
                        "departmentlist": str(dep.departmentid),
                        "providergroupid": "1",
                        "cleanbalance": True,
                    }
                ],
                "patientphoto": False,
                "driverslicense": False,
                "_age": age,
            }
            if rng.random() < 0.5:
                data["contactname"] = f"{rng.choice(FEMALE_NAMES + MALE_NAMES)} {last}"
                data["contactrelationship"] = "PARENT" if minor else rng.choice(("SPOUSE", "SIBLING", "FRIEND"))
                data["contactmobilephone"] = _phone(rng, dep.area_code)
            ssn = f"9{rng.randint(0, 99):02d}{rng.randint(70, 99):02d}{rng.randint(0, 9999):04d}" if not minor else ""
            if ssn and rng.random() < 0.6:
                data["ssn"] = ssn
            patients.append(data)
            insert_patient(tx, data, created_at=registered, via="seed", by=None)
    return patients


def insert_patient(tx: Transaction, data: dict[str, Any], *, created_at: float, via: str, by: str | None) -> int:
    """Insert (or replace) one patient row from its athena-shaped dict; keeps the search columns in step."""
    row = patient_columns(data)
    tx.execute(
        "INSERT INTO patients (patientid, firstname_key, lastname_key, dob, departmentid, status, email_key, "
        "phones, zip, ssn_digits, created_at, created_via, created_by, updated_at, data) "
        "VALUES (:patientid, :firstname_key, :lastname_key, :dob, :departmentid, :status, :email_key, :phones, "
        ":zip, :ssn_digits, :created_at, :created_via, :created_by, :updated_at, :data)",
        {**row, "created_at": created_at, "created_via": via, "created_by": by, "updated_at": created_at},
    )
    return int(row["patientid"])


def patient_columns(data: dict[str, Any]) -> dict[str, Any]:
    dob = parse_athena_date(data.get("dob"))
    phones = ",".join(
        digits(data.get(key)) for key in ("homephone", "mobilephone", "workphone") if digits(data.get(key))
    )
    return {
        "patientid": int(data["patientid"]),
        "firstname_key": (data.get("firstname") or "").strip().lower(),
        "lastname_key": (data.get("lastname") or "").strip().lower(),
        "dob": dob.isoformat() if dob else "",
        "departmentid": int(data["departmentid"]) if str(data.get("departmentid") or "").isdigit() else None,
        "status": data.get("status") or "active",
        "email_key": (data.get("email") or "").strip().lower() or None,
        "phones": phones or None,
        "zip": (data.get("zip") or "")[:5] or None,
        "ssn_digits": digits(data.get("ssn")) or None,
        "data": json.dumps(data),
    }


def _seed_insurances(tx: Transaction, rng: random.Random, patients: list[dict[str, Any]], base_time: float) -> int:
    ids = _Ids(7001)
    commercial = [pkg for pkg in INSURANCE_PACKAGES if pkg[4] == "Commercial"]
    medicare = [pkg for pkg in INSURANCE_PACKAGES if pkg[4].startswith("Medicare")]
    medicaid = [pkg for pkg in INSURANCE_PACKAGES if pkg[4] == "Medicaid"]
    created = 0
    cases_seen: set[str] = set()
    for patient in patients:
        count = rng.choices((0, 1, 2), weights=(15, 65, 20))[0]
        age = patient["_age"]
        chosen: list[tuple[int, str, str, str, str, str, str]] = []
        for sequence in range(1, count + 1):
            if sequence == 1 and age >= 65:
                pool = medicare
            elif sequence == 1 and rng.random() < 0.12:
                pool = medicaid
            else:
                pool = commercial
            options = [pkg for pkg in pool if pkg not in chosen] or commercial
            package = rng.choice(options)
            chosen.append(package)
            case = rng.choices(ELIGIBILITY_CASES, weights=_ELIGIBILITY_WEIGHTS)[0]
            cases_seen.add(case)
            insurance = build_insurance(
                rng=rng, insuranceid=ids.next(), patient=patient, package=package, sequence=sequence, case=case
            )
            insert_insurance(
                tx,
                insurance,
                patientid=int(patient["patientid"]),
                case=case,
                created_at=base_time - rng.randint(10, 900) * 86400,
                via="seed",
                by=None,
            )
            created += 1
    # Every eligibility case exists in every world, so tests can always find a member of each.
    missing = [case for case in ELIGIBILITY_CASES if case not in cases_seen]
    if missing:
        rows = tx.execute("SELECT insuranceid FROM insurances ORDER BY insuranceid LIMIT ?", (len(missing),)).fetchall()
        for row, case in zip(rows, missing, strict=False):
            tx.execute("UPDATE insurances SET eligibility_case = ? WHERE insuranceid = ?", (case, row["insuranceid"]))
    return created


def build_insurance(
    *,
    rng: random.Random,
    insuranceid: int,
    patient: dict[str, Any],
    package: tuple[int, str, str, str, str, str, str],
    sequence: int,
    case: str,
) -> dict[str, Any]:
    packageid, plan, payer, _payerid, kind, prefix, _description = package
    index = [pkg[0] for pkg in INSURANCE_PACKAGES].index(packageid)
    minor = patient["_age"] < 18
    if minor:
        holder_first, relationship, relationship_id = patient["guarantorfirstname"], "Child", 3
        holder_dob, holder_sex = patient["guarantordob"], rng.choice("FM")
    else:
        holder_first, relationship, relationship_id = patient["firstname"], "Self", 1
        holder_dob, holder_sex = patient["dob"], patient["sex"]
    holder_last = patient["lastname"]
    member = f"{prefix}{rng.randint(100000000, 999999999)}"
    issue_year = int(patient["registrationdate"][-4:])
    return {
        "insuranceid": str(insuranceid),
        "insurancepackageid": str(packageid),
        "sequencenumber": sequence,
        "insuranceidnumber": member,
        "policynumber": f"GRP{rng.randint(10000, 99999)}",
        "insuranceplanname": plan,
        "insuranceplandisplayname": plan.title(),
        "insurancetype": kind,
        "ircname": payer.title(),
        "ircid": str(900 + index),
        "insurancephone": f"(800) 555-01{index:02d}",
        "insurancepackageaddress1": f"PO BOX {packageid}",
        "insurancepackagecity": "SPRINGFIELD",
        "insurancepackagestate": "IL",
        "insurancepackagezip": f"627{index:02d}",
        "insurancepolicyholder": f"{holder_first} {holder_last}".upper(),
        "insurancepolicyholderfirstname": holder_first.upper(),
        "insurancepolicyholderlastname": holder_last.upper(),
        "insurancepolicyholderdob": holder_dob,
        "insurancepolicyholdersex": holder_sex,
        "insurancepolicyholdercountrycode": "USA",
        "insurancepolicyholdercountryiso3166": "US",
        "relationshiptoinsured": relationship,
        "relationshiptoinsuredid": relationship_id,
        "insuredentitytypeid": 1,
        "issuedate": f"01/01/{issue_year}",
        "eligibilitystatus": "Unverified",
        "eligibilityreason": "Athena",
    }


def insert_insurance(
    tx: Transaction,
    data: dict[str, Any],
    *,
    patientid: int,
    case: str,
    created_at: float,
    via: str,
    by: str | None,
) -> int:
    tx.execute(
        "INSERT INTO insurances (insuranceid, patientid, sequencenumber, insurancepackageid, insuranceidnumber, "
        "cancelled, eligibility_case, created_at, created_via, created_by, updated_at, data) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
        (
            int(data["insuranceid"]) if data.get("insuranceid") else None,
            patientid,
            int(data["sequencenumber"]),
            int(data["insurancepackageid"]),
            data.get("insuranceidnumber") or None,
            case,
            created_at,
            via,
            by,
            created_at,
            json.dumps(data),
        ),
    )
    return int(tx.execute("SELECT last_insert_rowid()").fetchone()[0])


def _seed_schedule(
    tx: Transaction,
    rng: random.Random,
    departments: list[DepartmentSeed],
    providers: dict[int, list[int]],
    patients: list[dict[str, Any]],
    seed_date: dt.date,
    base_time: float,
) -> tuple[int, int]:
    """Open slots for the next 30 days on weekdays in local business hours; some booked; past two weeks' visits."""
    ids = _Ids(1_000_001)
    grid = [f"{hour:02d}:{minute:02d}" for hour in (8, 9, 10, 11, 13, 14, 15, 16) for minute in (0, 30)]
    types = {typeid: (name, duration, display) for typeid, name, _short, duration, display in APPOINTMENT_TYPES}
    patients_by_department: dict[str, list[dict[str, Any]]] = {}
    for person in patients:
        patients_by_department.setdefault(person["departmentid"], []).append(person)
    slots = booked = 0
    appointment_rows: list[tuple[Any, ...]] = []
    booking_rows: list[tuple[int, int, float]] = []
    days = [seed_date + dt.timedelta(days=offset) for offset in range(-14, 30)]
    for dep in departments:
        zone = ZoneInfo(dep.timezone)
        weights = _SLOT_TYPES[dep.kind]
        local_patients = patients_by_department.get(str(dep.departmentid), [])
        for providerid in providers[dep.departmentid]:
            for day in days:
                if day.weekday() >= 5:
                    continue
                picks = sorted(rng.sample(grid, rng.randint(5, 9)))
                for start in picks:
                    typeid = rng.choices(list(weights), weights=list(weights.values()))[0]
                    name, duration, display = types[typeid]
                    past = day < seed_date
                    roll = rng.random()
                    patient: dict[str, Any] | None = rng.choice(local_patients) if local_patients else None
                    if past:
                        if roll > 0.55 or patient is None:
                            continue  # unbooked past slots are of no interest
                        status = rng.choices(("3", "x", "f"), weights=(75, 15, 10))[0]
                    else:
                        status = "f" if roll < 0.12 and patient is not None else "o"
                    appointmentid = ids.next()
                    start_at = local_timestamp(day.isoformat(), start, zone)
                    scheduled_at = min(start_at, base_time) - rng.randint(1, 30) * 86400
                    data: dict[str, Any] = {
                        "appointmenttype": name,
                        "patientappointmenttypename": display,
                        "duration": duration,
                        "templateappointmentid": str(appointmentid),
                        "templateappointmenttypeid": str(typeid),
                        "hl7providerid": providerid,
                        "chargeentrynotrequired": False,
                        "coordinatorenterprise": False,
                    }
                    patientid = None
                    if status != "o" and patient is not None:
                        patientid = int(patient["patientid"])
                        data.update(
                            {
                                "scheduledby": "frontdesk",
                                "scheduleddatetime": athena_datetime(scheduled_at),
                                "copay": rng.choice((0, 0, 20, 25, 30)),
                                "urgentyn": False,
                            }
                        )
                        if status in ("2", "3"):
                            data["checkindatetime"] = athena_datetime(start_at - 600)
                        if status == "3":
                            data["checkoutdatetime"] = athena_datetime(start_at + duration * 60 + 600)
                            data["encounterid"] = str(30000 + appointmentid % 100000)
                            data["encounterstatus"] = "CLOSED"
                        if status == "x":
                            data.update(
                                {
                                    "cancelledby": "frontdesk",
                                    "cancelleddatetime": athena_datetime(scheduled_at + 86400),
                                    "cancelreasonid": "1",
                                    "cancelreasonname": "PATIENT CANCELLED",
                                    "cancelreasonnoshow": False,
                                    "cancelreasonslotavailable": True,
                                }
                            )
                        booked += 1
                    lastmodified = scheduled_at if patientid else base_time - 30 * 86400
                    frozen = 1 if status == "o" and rng.random() < 0.02 else 0
                    bookable = 0 if status == "o" and rng.random() < 0.03 else 1
                    appointment_rows.append(
                        (
                            appointmentid,
                            dep.departmentid,
                            providerid,
                            typeid,
                            patientid,
                            status,
                            day.isoformat(),
                            start,
                            start_at,
                            frozen,
                            bookable,
                            base_time - 30 * 86400,
                            lastmodified,
                            json.dumps(data),
                        )
                    )
                    if patientid:
                        booking_rows.append((appointmentid, patientid, scheduled_at))
                    slots += 1
    tx.conn.executemany(
        "INSERT INTO appointments (appointmentid, departmentid, providerid, appointmenttypeid, patientid, status, "
        "date, starttime, start_at, frozen, api_bookable, created_at, created_via, lastmodified_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'seed', ?, ?)",
        appointment_rows,
    )
    tx.conn.executemany(
        "INSERT INTO bookings (appointmentid, patientid, booked_at, via, booked_by) VALUES (?, ?, ?, 'seed', NULL)",
        booking_rows,
    )
    return slots, booked
