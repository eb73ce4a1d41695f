"""Marketing's stories: newsletters, ads, content, forms, webinars and badge scans."""

from __future__ import annotations

from typing import Any

from .state import DAY, HOUR, WEEK, Person, Story
from .vocabulary import AD_NETWORKS, CAMPAIGN_SUBJECTS, CONTENT, VENDOR_DOMAIN, WEBINARS
from .world import WorldBase


class MarketingStories(WorldBase):
    """What marketing sends and sees: hubspot and marketo."""

    def _newsletter(self, person: Person) -> Story:
        """The weekly campaign email; about 45% open it, a third of those click."""
        while person.subscribed and not person.erased:
            week = (self.now // WEEK) % len(CAMPAIGN_SUBJECTS)
            campaign = f"cmp-{self.now // WEEK + 1:03d}-newsletter"
            message = f"hs-msg-{self.next_id('msg')}"
            base = {"campaign_id": campaign, "message_id": message}
            ids = self.ids_marketing(person)
            subject = CAMPAIGN_SUBJECTS[week]
            self.emit(person, "CampaignEmailSent", "hubspot", "marketing", ids, {**base, "subject": subject})
            next_send = self.now + WEEK + self.between(-3 * HOUR, 3 * HOUR)
            if self.r() < 0.45 * min(person.activity, 1.8):
                yield self.now + min(self.expo(5 * HOUR), 3 * DAY)
                self.emit(person, "EmailOpened", "hubspot", "marketing", self.ids_marketing(person), base)
                if self.r() < 0.33:
                    yield self.now + self.between(10, 900)
                    url = f"https://{VENDOR_DOMAIN}/blog/post-{week}?utm_campaign={campaign}"
                    payload = {**base, "url": url}
                    self.emit(
                        person, "EmailClicked", "hubspot", "marketing", self.ids_marketing(person), payload
                    )
                if self.r() < 0.012:
                    yield from self._unsubscribe(person, campaign)
                    return
            yield next_send

    def _unsubscribe(self, person: Person, campaign: str) -> Story:
        yield self.now + self.between(30, 600)
        ids = self.ids_marketing(person)
        self.emit(
            person,
            "Unsubscribed",
            "hubspot",
            "marketing",
            ids,
            {"campaign_id": campaign, "reason": "Too many emails"},
        )
        person.subscribed = False
        payload = {"purpose": "marketing_email", "channel": "email"}
        self.emit(person, "ConsentWithdrawn", "hubspot", "marketing", self.ids_marketing(person), payload)

    def _inbound_marketing(self, person: Person) -> Story:
        """Ads, downloads, forms and webinars, a couple of times a month for the active."""
        while not person.erased:
            yield from self._touch(person, self.pick(("ad", "ad", "content", "form", "webinar")))
            yield self.now + self.expo(14 * DAY / person.activity)

    def _touch(self, person: Person, kind: str) -> Story:
        campaign = f"cmp-{self.now // (30 * DAY) + 1:02d}-{kind}"
        if kind == "ad":
            payload = {
                "campaign_id": campaign,
                "ad_id": f"ad-{self.between(100, 140)}",
                "network": self.pick(AD_NETWORKS),
                "landing_url": f"https://{VENDOR_DOMAIN}/lp/{campaign}",
            }
            self.emit(person, "AdClicked", "hubspot", "marketing", self.ids_marketing(person), payload)
        elif kind == "webinar":
            yield from self._webinar(person, campaign)
        else:
            content_id, title = self.pick(CONTENT)
            self._form(person, "gated-content" if kind == "content" else "demo-request", campaign)
            if kind == "content":
                yield self.now + self.between(5, 120)
                payload = {"content_id": content_id, "title": title, "campaign_id": campaign}
                self.emit(
                    person, "ContentDownloaded", "hubspot", "marketing", self.ids_marketing(person), payload
                )

    def _form(self, person: Person, form_id: str, campaign: str) -> None:
        ids = self.ids_marketing(person)
        payload: dict[str, Any] = {
            "form_id": form_id,
            "page_url": f"https://{VENDOR_DOMAIN}/{form_id}",
            "campaign_id": campaign,
            "first_name": person.first,
            "last_name": person.last,
        }
        if person.account is not None:
            payload["company"] = person.account.name
            payload["job_title"] = person.title
        if person.phones and self.r() < 0.4:
            ids["phone"] = self.see_phone(person, person.phones[-1])
        if form_id == "demo-request":
            payload["message"] = "We would like to see a demo for our team.\nBest regards"
        self.emit(person, "FormSubmitted", "hubspot", "marketing", ids, payload)

    def _webinar(self, person: Person, campaign: str) -> Story:
        webinar_id, title = self.pick(WEBINARS)
        personal = self.r() < 0.3
        ids = self.ids_marketing(person, "marketo", personal)
        payload = {"webinar_id": webinar_id, "title": title, "campaign_id": campaign}
        self.emit(person, "WebinarRegistered", "marketo", "marketing", ids, payload)
        if self.r() < 0.55:
            yield self.now + self.between(2 * DAY, 10 * DAY)
            ids = self.ids_marketing(person, "marketo", personal)
            attended = {"webinar_id": webinar_id, "minutes_attended": self.between(5, 61)}
            self.emit(person, "WebinarAttended", "marketo", "marketing", ids, attended)

    def _badge_scan_story(self, person: Person, conference: str) -> Story:
        """A business card: scanned at the booth, imported into marketo a day or three later."""
        account = person.account
        personal = person.personal is not None and self.r() < 0.25
        variants = person.personal if personal and person.personal else person.email
        email = self.see_email(person, variants, (0.5, 0.9))
        ids: dict[str, Any] = {"email": email, "external_ids": self.ext_id(person, "marketo", personal)}
        payload: dict[str, Any] = {
            "event_name": conference,
            "first_name": person.first,
            "last_name": person.last,
            "job_title": person.title,
            "email": email,
            "booth": "Brightlane booth B12",
        }
        if account is not None:
            payload["company"] = account.name if self.r() < 0.7 else f"{account.name} Inc."
            if not personal:
                ids["account_domain"] = account.domain
        if person.phones and self.r() < 0.7:
            payload["phone"] = ids["phone"] = self.see_phone(person, person.phones[-1])
        self.emit(
            person, "EventBadgeScanned", "marketo", "marketing", ids, payload, lag=self.between(DAY, 3 * DAY)
        )
        return
        yield
