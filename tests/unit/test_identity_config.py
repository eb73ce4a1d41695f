"""Identity configuration enters from the edge: Settings in, IdentityConfig and PhoneRegions out; the rules
and the reader never look at the environment or a file themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from event_examples import wire_event

from touchstream.adapters.config import SettingsError, load_settings
from touchstream.adapters.master_record.application import MasterRecord
from touchstream.adapters.master_record.identity_config import identity_config, phone_regions
from touchstream.events import parse_event
from touchstream.projections.identity import IdentityConfig, canonical_key


def test_thresholds_and_regions_come_from_settings() -> None:
    settings = load_settings(
        {
            "TOUCHSTREAM_IDENTITY_SWITCHBOARD_HOLDERS": "4",
            "TOUCHSTREAM_IDENTITY_MAX_EMAILS_PER_CONTACT": "2",
            "TOUCHSTREAM_SOURCE_REGIONS": "Zendesk_UK=gb, hubspot_de=DE",
            "TOUCHSTREAM_DEFAULT_REGION": "fr",
        }
    )
    config = identity_config(settings)
    assert (config.switchboard_holders, config.max_emails_per_contact) == (4, 2)
    regions = phone_regions(settings)
    assert regions.by_source == {"zendesk_uk": "GB", "hubspot_de": "DE"}
    assert regions.default == "FR"
    assert MasterRecord.from_url("memory://", settings=settings).identity == config


def test_the_environment_changes_nothing_that_was_not_passed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHSTREAM_IDENTITY_SWITCHBOARD_HOLDERS", "9")
    monkeypatch.setenv("TOUCHSTREAM_ROLE_LOCAL_PARTS", "jane")
    monkeypatch.setenv("TOUCHSTREAM_SOURCE_REGIONS", "hubspot=GB")
    assert IdentityConfig().switchboard_holders == 3
    assert not IdentityConfig().is_role_address("jane@acme.com")
    assert MasterRecord.from_url("memory://").identity.switchboard_holders == 3
    wire = wire_event("EmailOpened", 1, identifiers={"email": "a@b.co", "phone": "020 7946 0958"})
    assert parse_event(wire).identifiers.phone is None, "hubspot=GB was not passed in: not applied"
    assert parse_event(wire, regions=phone_regions(load_settings())).identifiers.phone == "+442079460958"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TOUCHSTREAM_SOURCE_REGIONS": "zendesk"}, "TOUCHSTREAM_SOURCE_REGIONS"),
        ({"TOUCHSTREAM_SOURCE_REGIONS": "zendesk=XX"}, "TOUCHSTREAM_SOURCE_REGIONS"),
        ({"TOUCHSTREAM_DEFAULT_REGION": "Britain"}, "TOUCHSTREAM_DEFAULT_REGION"),
        ({"TOUCHSTREAM_IDENTITY_SWITCHBOARD_HOLDERS": "1"}, "switchboard_holders"),
        (
            {"TOUCHSTREAM_IDENTITY_MAX_CONTACTS_PER_EVENT": "many"},
            "TOUCHSTREAM_IDENTITY_MAX_CONTACTS_PER_EVENT",
        ),
        (
            {"TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE": "/nonexistent/isps.txt"},
            "TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE",
        ),
    ],
)
def test_a_bad_identity_setting_is_refused_naming_it(environ: dict[str, str], named: str) -> None:
    def build() -> None:
        settings = load_settings(environ)
        identity_config(settings)
        phone_regions(settings)

    with pytest.raises(SettingsError, match=named):
        build()


def test_extra_free_mail_domains_come_from_a_deployments_file(tmp_path: Path) -> None:
    isps = tmp_path / "isps.txt"
    isps.write_text("hey.com  # not in the upstream list\ntutanota.com\n")
    config = identity_config(load_settings({"TOUCHSTREAM_FREE_MAIL_DOMAINS_FILE": str(isps)}))
    assert config.is_free_mail("hey.com")
    assert config.is_free_mail("tutanota.com")
    assert not identity_config().is_free_mail("hey.com")


def test_any_spelling_of_a_key_finds_its_owner() -> None:
    assert canonical_key("email:J.Doe+x@GoogleMail.com") == "email:jdoe@gmail.com"
    assert canonical_key("ext:salesforce:00300000003T2PG") == "ext:salesforce:00300000003T2PGAA0"
    assert canonical_key("account:sfdc:0013000000zL7K6") == "account:sfdc:0013000000zL7K6AAK"
    assert canonical_key("phone:+14155550134") == "phone:+14155550134"
