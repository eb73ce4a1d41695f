"""Value types shared by every event: normalized identifiers, bounded text, money, the departments.

Normalization happens here, once, at the edge: an email is lower-cased, a phone becomes E.164, a domain
loses its `www.`; everything downstream compares plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from .enums import PersonIdKind

DEFAULT_PHONE_REGION = "US"
# ClickHouse DateTime starts at the Unix epoch: an earlier instant cannot be stored, so it is not accepted.
EARLIEST_INSTANT = datetime(1970, 1, 2, tzinfo=UTC)


class Department(StrEnum):
    """Who recorded a touchpoint. `system` is Touchstream itself and master-data tools."""

    marketing = "marketing"
    sales = "sales"
    support = "support"
    contact_center = "contact_center"
    commerce = "commerce"
    system = "system"


class FrozenModel(BaseModel):
    """Every model on the wire: immutable, and unknown fields are an error rather than silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# Unicode's control characters (category Cc) are exactly these 65 code points; a regular expression finds
# them in C, where asking `unicodedata.category` of every character cost a tenth of each parse.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if found := CONTROL_CHARACTERS.search(value):
        raise ValueError(f"control character U+{ord(found.group()):04X} is not allowed here; remove it")
    return value


def _no_control_characters_but_lines(value: str) -> str:
    if found := CONTROL_CHARACTERS_BUT_LINES.search(value):
        raise ValueError(
            f"control character U+{ord(found.group()):04X} is not allowed; only tab and newlines are"
        )
    return value


# Names, ids and titles: one line, bounded. Free text (comments, descriptions): lines allowed, bounded.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_characters)]
Ident = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(_no_control_characters)
]
Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_control_characters_but_lines)]
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://\S+$"),
    AfterValidator(_no_control_characters),
]


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Pattern checks run before StringConstraints' case folding, so case is folded in a before-validator.
SystemName = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$"),
]


def _normalize_email(value: str) -> str:
    normalized, problem = _checked_email(value)
    if problem:
        raise ValueError(problem)
    return normalized


@lru_cache(maxsize=131_072)
def _checked_email(value: str) -> tuple[str, str]:
    """(normalized address, "") or ("", the reason it is refused): email-validator's RFC checks are ~half
    of a parse, and the same few addresses recur across a customer's events, so the answer is kept."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return "", f"not a valid email address: {exc}"
    return checked.normalized.lower(), ""


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_normalize_email)]


@dataclass(frozen=True)
class PhoneRegions:
    """How a phone written without its country code is read, passed in by the caller (never read here
    from the environment): the region of the event's source system, else the country of the postal
    address the event carries, else `default`."""

    default: str = DEFAULT_PHONE_REGION
    by_source: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for where, region in [("default", self.default), *self.by_source.items()]:
            if str(region).upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(
                    f"phone region {region!r} for {where!r} is not a region code; use ISO 3166 alpha-2, "
                    "e.g. US, GB, DE"
                )
        object.__setattr__(self, "default", self.default.upper())
        object.__setattr__(
            self, "by_source", {str(k).lower(): str(v).upper() for k, v in self.by_source.items()}
        )

    def region_for(self, source: object, address_country: object = None, default: str | None = None) -> str:
        """The region to read this event's phones with (see the class docstring for the order);
        `default` replaces the configured default for this call."""
        if isinstance(source, str) and source.strip().lower() in self.by_source:
            return self.by_source[source.strip().lower()]
        country = address_country.strip().upper() if isinstance(address_country, str) else ""
        if country in phonenumbers.SUPPORTED_REGIONS:
            return country
        return default.upper() if default else self.default


def default_phone_region(info: ValidationInfo | None = None) -> str:
    """The region used to read phones written without a country code (`+…`): the validation context's
    `default_region` (set by `parse_event` from the caller's `PhoneRegions`), else US. Never the
    environment: a parse depends only on its input and what the caller passed."""
    context = info.context if info is not None and isinstance(info.context, dict) else {}
    region = context.get("default_region") or DEFAULT_PHONE_REGION
    return str(region).upper()


@lru_cache(maxsize=65_536)
def normalize_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 form of a phone written any common way; raises ValueError naming what is wrong.

    Cached: the same numbers recur on every event of a person, and a holder's before-validator and the
    field's own validator both ask (exceptions are not cached)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number ({exc}); write it as +<country><number>") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"not a valid phone number for region {region}; write it with its country code, e.g. +14155550100"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone(value: str, info: ValidationInfo) -> str:
    return normalize_phone(value, default_phone_region(info))


Phone = Annotated[str, StringConstraints(min_length=3, max_length=40), AfterValidator(_phone)]
# A phone that could not be read (no country code and the region does not fit, a typo): kept as written
# so a person can fix it, and flagged by where it sits; it never costs the event.
RawPhone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_control_characters)
]


def _plausible_phone_text(value: str) -> bool:
    """Text someone meant as a phone number: short, printable, with a few digits. Anything else (a word,
    an injection attempt, a kilobyte of repeats) is still refused, naming the field."""
    text = value.strip()
    return (
        0 < len(text) <= 64 and sum(ch.isdigit() for ch in text) >= 3 and not CONTROL_CHARACTERS.search(text)
    )


def _is_none(value: object) -> bool:
    return value is None


class PhoneHolder(FrozenModel):
    """A model with a phone: a number that cannot be read with the event's region moves, as written, to
    `phone_unparsed` (the flag) instead of rejecting the whole event."""

    phone: Phone | None = None
    # Written out only when a phone could not be read: every other event serializes as before.
    phone_unparsed: RawPhone | None = Field(
        default=None,
        exclude_if=_is_none,
        description="a phone as written that could not be read as a number (set by the reader; fix the "
        "region or the number)",
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_unreadable_phone(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        raw = data.get("phone")
        if not isinstance(raw, str) or data.get("phone_unparsed") is not None:
            return data
        try:  # cached: the field's own validator asks again for free
            normalize_phone(raw.strip(), default_phone_region(info))
        except ValueError:
            if _plausible_phone_text(raw):
                return {**data, "phone": None, "phone_unparsed": raw.strip()}
        return data


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _normalize_domain(value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    domain = domain.removeprefix("www.")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain name") from None
    if not _DOMAIN.match(domain):
        raise ValueError("not a valid domain name; expected something like acme.com")
    return domain


Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_normalize_domain)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+00:01: UTC would fall before year 1
        raise ValueError("is outside the range of dates that can be stored") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]

# ClickHouse's Date holds 1970-01-01..2149-06-06 and its DateTime ends in 2106; a date outside the common
# range would be stored as something else (18.16 wraps, chDB clamps), so it is refused at the edge.
LATEST_DAY = date(2105, 12, 31)


def _storable_day(value: date) -> date:
    if not EARLIEST_INSTANT.date() <= value <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_INSTANT.date()} and {LATEST_DAY}")
    return value


Day = Annotated[date, AfterValidator(_storable_day)]


def _plausible_birth_date(value: date, info: ValidationInfo) -> date:
    now = info.context.get("now") if isinstance(info.context, dict) else None
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError(f"a date of birth must be after {EARLIEST_BIRTH_DATE}")
    if isinstance(now, datetime) and value > now.date():
        raise ValueError(f"a date of birth cannot be after today ({now.date()})")
    return value


# Not `Day`: people were born before 1970. Kept in the master record, never a ClickHouse Date column.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
BirthDate = Annotated[date, AfterValidator(_plausible_birth_date)]


def _country(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code; write e.g. GB, DE, US")
        return code
    return value


CountryCode = Annotated[str, BeforeValidator(_country), StringConstraints(pattern=r"^[A-Z]{2}$")]
PostalCode = Annotated[
    str, StringConstraints(min_length=1, max_length=20), AfterValidator(_no_control_characters)
]


class PostalAddress(FrozenModel):
    """A structured postal address. `country` (ISO alpha-2) also says how the event's phones without a
    country code are read when the source has no region of its own."""

    lines: Annotated[list[Name], Field(max_length=4)] | None = Field(
        default=None, description="street, number, building, c/o: at most 4 lines"
    )
    city: Name | None = None
    region: Name | None = Field(default=None, description="state, county or province")
    postal_code: PostalCode | None = None
    country: CountryCode | None = None

    @model_validator(mode="after")
    def _something(self) -> PostalAddress:
        if not (self.lines or self.city or self.region or self.postal_code or self.country):
            raise ValueError("an address needs at least one of lines, city, region, postal_code, country")
        return self

    def one_line(self) -> str:
        """The address as one comparable line (for survivorship and display)."""
        parts = [*(self.lines or []), self.postal_code, self.city, self.region, self.country]
        return ", ".join(p for p in parts if p)


class Money(FrozenModel):
    """An amount with its ISO 4217 currency. Amounts are exact decimals, never floats."""

    amount: Annotated[Decimal, Field(max_digits=18, decimal_places=2, ge=-(10**15), le=10**15)]
    currency: Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]


class PersonIdentifier(FrozenModel):
    """A typed identifier of a person: a national id, passport or tax id (with its issuing `country`), or
    a customer number / CRM id / membership number (with the `system` that issued it)."""

    kind: PersonIdKind
    value: Ident
    system: SystemName | None = None
    country: CountryCode | None = None

    @model_validator(mode="after")
    def _issuer(self) -> PersonIdentifier:
        state_issued = self.kind in (PersonIdKind.national_id, PersonIdKind.passport, PersonIdKind.tax_id)
        if state_issued and self.country is None:
            raise ValueError(f"a {self.kind.value} needs the `country` that issued it, e.g. 'SE'")
        if not state_issued and self.system is None:
            raise ValueError(f"a {self.kind.value} needs the `system` that issued it, e.g. 'salesforce'")
        return self


class Identifiers(PhoneHolder):
    """Who a touchpoint is about. At least one identifier is required; strong ones (email, external ids)
    can claim a customer, weak ones (phone) only suggest."""

    email: Email | None = None
    external_ids: Annotated[dict[SystemName, Ident], Field(max_length=16)] = Field(default_factory=dict)
    account_domain: Domain | None = None
    account_external_ids: Annotated[dict[SystemName, Ident], Field(max_length=16)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Identifiers:
        if not (
            self.email
            or self.phone
            or self.phone_unparsed
            or self.external_ids
            or self.account_domain
            or self.account_external_ids
        ):
            raise ValueError(
                "at least one identifier is required: email, phone, external_ids, account_domain "
                "or account_external_ids"
            )
        return self

    def strongest(self) -> str:
        """The identifier that best names the person: a stable partition key for their events."""
        if self.email:
            return f"email:{self.email}"
        for system in sorted(self.external_ids):
            return f"ext:{system}:{self.external_ids[system]}"
        if self.phone:
            return f"phone:{self.phone}"
        if self.account_domain:
            return f"domain:{self.account_domain}"
        if self.account_external_ids:
            system = min(self.account_external_ids)
            return f"account:{system}:{self.account_external_ids[system]}"
        return f"unparsed-phone:{self.phone_unparsed}"
