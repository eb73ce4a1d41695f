"""Canonical identifiers: one spelling per mailbox, per Salesforce record, per role address.

Two spellings that reach the same inbox (or the same CRM record) must become one identity key, or one
person becomes two contacts; two different inboxes must never become one key, or two people merge. So the
rules are per provider family, from what each provider documents, never guessed for a company's own
server. Pure functions: the domain lists (free-mail, disposable) are passed in by the caller.
"""

from __future__ import annotations

import re
from functools import lru_cache

# --- email providers --------------------------------------------------------------------------------------

# Gmail ignores dots in the local part and delivers `+tag` to the same inbox; googlemail.com is gmail.com.
_GMAIL = frozenset({"gmail.com", "googlemail.com"})
# Providers that deliver `local+tag@` to `local@` (sub-addressing). Microsoft's consumer domains exist in
# dozens of regional spellings (outlook.de, hotmail.co.uk, live.com.au), hence a pattern.
_PLUS_TAGS = re.compile(
    r"^(?:(?:outlook|hotmail|live|msn|windowslive)\.[a-z.]+"
    r"|fastmail\.(?:com|fm|net|org|to|us|in|cn|co\.uk|es|mx|se|jp|de)|messagingengine\.com|fastmail\.[a-z.]+"
    r"|icloud\.com|me\.com|mac\.com"
    r"|proton(?:mail)?\.(?:com|ch|me)|pm\.me)$"
)
# Yahoo's disposable addresses are `base-keyword@yahoo.…`: the base is the mailbox.
_DASH_TAGS = re.compile(r"^(?:yahoo\.[a-z.]+|ymail\.com|rocketmail\.com)$")
# The big consumer providers' regional domains, for when a maintained list lags a new country spelling.
_FREE_MAIL_FAMILIES = re.compile(
    r"^(?:gmail|googlemail|yahoo|ymail|outlook|hotmail|live|msn|aol|gmx|icloud|yandex|proton|protonmail"
    r"|libero|t-online|wanadoo|rediffmail)\.[a-z]{2,3}(?:\.[a-z]{2})?$"
)


def split_email(email: str) -> tuple[str, str]:
    local, _, domain = email.rpartition("@")
    return local, domain


#: Distinct addresses and domains remembered by the pure functions below: a pipeline sees the same people
#: again and again, and these are most of the cost of working out an event's evidence.
_REMEMBERED = 1 << 16


@lru_cache(maxsize=_REMEMBERED)
def canonical_domain(domain: str) -> str:
    """The provider's one name for a mail domain (googlemail.com -> gmail.com)."""
    domain = domain.lower().rstrip(".")
    return "gmail.com" if domain in _GMAIL else domain


@lru_cache(maxsize=_REMEMBERED)
def canonical_email(email: str) -> str:
    """The mailbox an address delivers to, as one key: gmail dots and `+tags` dropped, `+tags` dropped at
    sub-addressing providers, Yahoo's `-keyword` dropped; every other domain is left as written (a
    company's server may treat `jane+x` as a different person)."""
    local, domain = split_email(email.strip().lower())
    if not local or not domain:
        return email.strip().lower()
    domain = canonical_domain(domain)
    if domain == "gmail.com":
        local = local.split("+", 1)[0].replace(".", "")
    elif _PLUS_TAGS.match(domain):
        local = local.split("+", 1)[0]
    elif _DASH_TAGS.match(domain):
        local = local.split("-", 1)[0]
    return f"{local or email.split('@', 1)[0]}@{domain}"


@lru_cache(maxsize=_REMEMBERED)
def looks_like_free_mail(domain: str) -> bool:
    """A regional spelling of a big consumer provider (yahoo.co.in, outlook.de, hotmail.com.ar)."""
    return bool(_FREE_MAIL_FAMILIES.match(canonical_domain(domain)))


# --- role mailboxes ---------------------------------------------------------------------------------------

# The maintained pattern list: a local part that names a function, not a person. Matched on the local part
# with separators (. - _) removed, and as tokens (`it-support`, `customer.service`, `sales.emea`).
ROLE_WORDS: frozenset[str] = frozenset(
    {
        "accounts",
        "accounting",
        "admin",
        "administrator",
        "billing",
        "bookings",
        "careers",
        "contact",
        "contactus",
        "customercare",
        "customerservice",
        "customerservices",
        "customersuccess",
        "customersupport",
        "devops",
        "donotreply",
        "enquiries",
        "enquiry",
        "feedback",
        "finance",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "information",
        "inquiries",
        "inquiry",
        "invoices",
        "invoice",
        "itsupport",
        "jobs",
        "legal",
        "mail",
        "mailerdaemon",
        "marketing",
        "media",
        "newsletter",
        "noreply",
        "notifications",
        "office",
        "operations",
        "ops",
        "orders",
        "partners",
        "payments",
        "postmaster",
        "press",
        "privacy",
        "procurement",
        "purchasing",
        "reception",
        "recruiting",
        "recruitment",
        "sales",
        "security",
        "service",
        "servicedesk",
        "shop",
        "support",
        "sysadmin",
        "team",
        "tech",
        "techsupport",
        "webmaster",
    }
)
# Words that qualify a role without naming a person: `it-support`, `support.emea`, `sales-team`, `the.office`.
_ROLE_QUALIFIERS = frozenset(
    {
        "it",
        "customer",
        "customers",
        "client",
        "clients",
        "tech",
        "technical",
        "team",
        "the",
        "our",
        "global",
        "online",
        "web",
        "emea",
        "apac",
        "amer",
        "na",
        "eu",
        "us",
        "uk",
        "de",
        "fr",
        "service",
        "services",
        "desk",
        "do",
        "not",
        "no",
        "reply",
        "general",
        "main",
        "central",
        "group",
        "dept",
        "department",
    }
)
_SEPARATORS = re.compile(r"[._-]+")


@lru_cache(maxsize=_REMEMBERED)
def is_role_local_part(local: str, extra: frozenset[str] = frozenset()) -> bool:
    """`support`, `servicedesk`, `it-support`, `customer.service`, `no-reply`: a mailbox of a function.
    `jane.support` is not (a token that is not a role word names a person)."""
    local = local.lower().split("+", 1)[0]
    words = ROLE_WORDS | extra
    if _SEPARATORS.sub("", local) in words or local in words:
        return True
    tokens = [t for t in _SEPARATORS.split(local) if t]
    return (
        len(tokens) > 1
        and any(t in words for t in tokens)
        and all(t in words or t in _ROLE_QUALIFIERS or t.isdigit() for t in tokens)
    )


# --- Salesforce ids ---------------------------------------------------------------------------------------

SALESFORCE_SYSTEMS = frozenset({"salesforce", "sfdc", "sf"})
_SF_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$", re.ASCII)


def salesforce_id_18(value: str) -> str:
    """Salesforce's case-safe 18-character id: a 15-character id gains its checksum suffix; an 18-character
    one gets its case restored from the suffix (exports that lower-case ids stay one record). Anything
    else is returned unchanged."""
    text = value.strip()
    if not _SF_ID.match(text if len(text) == 15 else text[:15] + text[15:].upper()):
        return value
    if len(text) == 18:
        suffix = text[15:].upper()
        chars = list(text[:15])
        for chunk, code in enumerate(suffix):
            bits = _SF_ALPHABET.index(code)
            for i in range(5):
                pos = chunk * 5 + i
                chars[pos] = chars[pos].upper() if bits & (1 << i) else chars[pos].lower()
        # A suffix that disagrees with letters it should make capital is not a Salesforce id after all.
        restored = "".join(chars)
        return restored + suffix if salesforce_id_18(restored) == restored + suffix else value
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(text[chunk * 5 : chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _SF_ALPHABET[bits]
    return text + suffix


def canonical_external_id(system: str, value: str) -> str:
    """One spelling per record of a source system (Salesforce 15 -> 18 characters)."""
    return salesforce_id_18(value) if system in SALESFORCE_SYSTEMS else value
