"""Marketing touchpoints: campaigns, content, webinars, ads, and business cards scanned at events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .envelope import Event, Payload
from .values import Department, Email, Ident, Name, PhoneHolder, Text, Url


class MarketingEvent(Event):
    home_department = Department.marketing


class CampaignEmailSentPayload(Payload):
    campaign_id: Ident
    message_id: Ident
    subject: Name


class CampaignEmailSent(MarketingEvent):
    type: Literal["CampaignEmailSent"] = "CampaignEmailSent"
    schema_version: Literal[1] = 1
    payload: CampaignEmailSentPayload


class EmailOpenedPayload(Payload):
    campaign_id: Ident
    message_id: Ident


class EmailOpened(MarketingEvent):
    type: Literal["EmailOpened"] = "EmailOpened"
    schema_version: Literal[1] = 1
    payload: EmailOpenedPayload


class EmailClickedPayload(Payload):
    campaign_id: Ident
    message_id: Ident
    url: Url


class EmailClicked(MarketingEvent):
    type: Literal["EmailClicked"] = "EmailClicked"
    schema_version: Literal[1] = 1
    payload: EmailClickedPayload


class UnsubscribedPayload(Payload):
    campaign_id: Ident | None = Field(default=None, description="the campaign whose link was used, if any")
    reason: Text | None = None


class Unsubscribed(MarketingEvent):
    type: Literal["Unsubscribed"] = "Unsubscribed"
    schema_version: Literal[1] = 1
    payload: UnsubscribedPayload


class FormSubmittedPayload(Payload):
    form_id: Ident
    page_url: Url
    campaign_id: Ident | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    company: Name | None = None
    job_title: Name | None = None
    message: Text | None = None


class FormSubmitted(MarketingEvent):
    type: Literal["FormSubmitted"] = "FormSubmitted"
    schema_version: Literal[1] = 1
    payload: FormSubmittedPayload


class ContentDownloadedPayload(Payload):
    content_id: Ident
    title: Name
    campaign_id: Ident | None = None


class ContentDownloaded(MarketingEvent):
    type: Literal["ContentDownloaded"] = "ContentDownloaded"
    schema_version: Literal[1] = 1
    payload: ContentDownloadedPayload


class WebinarRegisteredPayload(Payload):
    webinar_id: Ident
    title: Name
    campaign_id: Ident | None = None


class WebinarRegistered(MarketingEvent):
    type: Literal["WebinarRegistered"] = "WebinarRegistered"
    schema_version: Literal[1] = 1
    payload: WebinarRegisteredPayload


class WebinarAttendedPayload(Payload):
    webinar_id: Ident
    minutes_attended: int = Field(ge=0, le=24 * 60)


class WebinarAttended(MarketingEvent):
    type: Literal["WebinarAttended"] = "WebinarAttended"
    schema_version: Literal[1] = 1
    payload: WebinarAttendedPayload


class AdClickedPayload(Payload):
    campaign_id: Ident
    ad_id: Ident
    network: Ident = Field(description="the ad network, e.g. 'google_ads', 'linkedin'")
    landing_url: Url


class AdClicked(MarketingEvent):
    type: Literal["AdClicked"] = "AdClicked"
    schema_version: Literal[1] = 1
    payload: AdClickedPayload


class EventBadgeScannedPayload(PhoneHolder, Payload):
    """A business card collected at a conference or trade show."""

    event_name: Name
    first_name: Name
    last_name: Name
    job_title: Name | None = None
    company: Name | None = None
    email: Email | None = None
    booth: Name | None = None


class EventBadgeScanned(MarketingEvent):
    type: Literal["EventBadgeScanned"] = "EventBadgeScanned"
    schema_version: Literal[1] = 1
    payload: EventBadgeScannedPayload
