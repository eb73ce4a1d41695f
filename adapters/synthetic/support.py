"""Support's stories: tickets and their replies, CSAT, complaints, inbound email, calls and NPS."""

from __future__ import annotations

from typing import Any

from .state import DAY, HOUR, MINUTE, Person, Story
from .vocabulary import (
    CC_AGENTS,
    COMPLAINT_THEMES,
    CONSUMER_TICKET_SUBJECTS,
    NPS_COMMENTS,
    PRODUCTS,
    RESOLUTIONS,
    SUPPORT_AGENTS,
    TICKET_SUBJECTS,
    VENDOR_DOMAIN,
)
from .world import WorldBase


class SupportStories(WorldBase):
    """What zendesk, the contact center (genesys) and qualtrics record."""

    def _support(self, person: Person) -> Story:
        while not person.erased and not (person.account is not None and person.account.churned):
            self.spawn(self._ticket(person), self.now)
            yield self.now + self.expo((28 if person.account else 70) * DAY / person.activity)

    def _ticket(self, person: Person) -> Story:
        """A ticket: opened (after an email or a call), answered, maybe waiting, resolved, maybe reopened."""
        business = person.account is not None
        priority = self._priority(business)
        channel = self.pick(
            ("email", "email", "web", "chat", "phone") if person.phones else ("email", "web", "chat")
        )
        ticket_id = str(40_000 + self.next_id("ticket"))
        subject = self.pick(TICKET_SUBJECTS[priority] if business else CONSUMER_TICKET_SUBJECTS)
        personal = person.personal is not None and self.r() < 0.3
        if channel == "email":
            self._inbound_email(person, ticket_id, subject, personal, reveal=self.r() < 0.12)
        elif channel == "phone":
            self._cc_call(person, "support", "escalated")
        opened = {
            "ticket_id": ticket_id,
            "subject": subject,
            "priority": priority,
            "channel": channel,
            "product": self.pick(PRODUCTS),
        }
        self.emit(person, "TicketOpened", "zendesk", "support", self.ids_support(person, personal), opened)
        yield self.now + self._first_response(priority)
        agent = self.pick(SUPPORT_AGENTS)
        self._ticket_update(person, personal, ticket_id, "open", agent, reply=True)
        if priority == "P2" and self.r() < 0.1:
            yield self.now + self.between(10 * MINUTE, 2 * HOUR)
            self._ticket_update(person, personal, ticket_id, "open", agent, reply=False, priority="P1")
        if self.r() < 0.4:
            yield from self._waiting_on_customer(person, personal, ticket_id, subject, agent)
        yield self.now + self._first_response(priority) * self.between(2, 8)
        yield from self._resolve(person, personal, ticket_id, agent, business)

    def _priority(self, business: bool) -> str:
        roll = self.r()
        if not business:
            return "P2" if roll < 0.1 else "P3" if roll < 0.55 else "P4"
        return "P1" if roll < 0.05 else "P2" if roll < 0.22 else "P3" if roll < 0.65 else "P4"

    def _first_response(self, priority: str) -> int:
        low, high = {
            "P1": (5 * MINUTE, HOUR),
            "P2": (30 * MINUTE, 4 * HOUR),
            "P3": (HOUR, DAY),
            "P4": (2 * HOUR, 2 * DAY),
        }[priority]
        return self.between(low, high)

    def _ticket_update(
        self,
        person: Person,
        personal: bool,
        ticket_id: str,
        status: str,
        agent: str,
        reply: bool,
        priority: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {
            "ticket_id": ticket_id,
            "status": status,
            "assignee": agent,
            "public_reply": reply,
        }
        if priority is not None:
            payload["priority"] = priority
        self.emit(
            person, "TicketUpdated", "zendesk", "support", self.ids_support(person, personal), payload, agent
        )

    def _waiting_on_customer(
        self, person: Person, personal: bool, ticket_id: str, subject: str, agent: str
    ) -> Story:
        self._ticket_update(person, personal, ticket_id, "pending_customer", agent, reply=True)
        yield self.now + self.between(HOUR, 2 * DAY)
        self._inbound_email(person, ticket_id, f"Re: {subject}", personal, reveal=self.r() < 0.05)
        self._ticket_update(person, personal, ticket_id, "open", agent, reply=False)

    def _resolve(self, person: Person, personal: bool, ticket_id: str, agent: str, business: bool) -> Story:
        resolution = {"ticket_id": ticket_id, "resolution": self.pick(RESOLUTIONS)}
        self.emit(
            person,
            "TicketResolved",
            "zendesk",
            "support",
            self.ids_support(person, personal),
            resolution,
            agent,
        )
        reopened = self.r() < 0.07
        if reopened:
            yield self.now + self.between(DAY, 4 * DAY)
            payload = {"ticket_id": ticket_id, "reason": "The problem is back"}
            self.emit(
                person, "TicketReopened", "zendesk", "support", self.ids_support(person, personal), payload
            )
            yield self.now + self.between(HOUR, DAY)
            self._ticket_update(person, personal, ticket_id, "open", agent, reply=True)
            yield self.now + self.between(2 * HOUR, 3 * DAY)
            self.emit(
                person,
                "TicketResolved",
                "zendesk",
                "support",
                self.ids_support(person, personal),
                resolution,
                agent,
            )
        if self.r() < 0.45:
            yield self.now + self.between(30 * MINUTE, 2 * DAY)
            yield from self._csat(person, personal, ticket_id, reopened, business)

    def _csat(self, person: Person, personal: bool, ticket_id: str, reopened: bool, business: bool) -> Story:
        healthy = person.account.healthy if person.account else True
        score = min(
            5, max(1, self.between(3, 6) - (2 if reopened else 0) - (0 if healthy else self.between(0, 3)))
        )
        payload: dict[str, Any] = {"survey_id": f"csat-{ticket_id}", "score": score, "ticket_id": ticket_id}
        if score <= 2:
            payload["comment"] = "It took far too long."
        self.emit(person, "CsatSubmitted", "zendesk", "support", self.ids_support(person, personal), payload)
        if score <= 2 and self.r() < 0.5:
            yield self.now + self.between(HOUR, DAY)
            self._complaint(
                person, "service" if business else "delivery", "high" if score == 1 else "medium", ticket_id
            )

    def _complaint(self, person: Person, category: str, severity: str, ticket_id: str | None) -> None:
        payload: dict[str, Any] = {
            "complaint_id": f"cmp-{self.next_id('complaint'):06d}",
            "category": category,
            "severity": severity,
            "theme": self.pick(COMPLAINT_THEMES[category]),
            "description": "Customer escalated their dissatisfaction.",
        }
        if ticket_id is not None:
            payload["ticket_id"] = ticket_id
        self.emit(person, "ComplaintLogged", "zendesk", "support", self.ids_support(person, False), payload)

    def _inbound_email(
        self, person: Person, ticket_id: str, subject: str, personal: bool, reveal: bool
    ) -> None:
        """A mail to support; its signature may reveal a new mobile number (evidence for the master record)"""
        observed: dict[str, Any] = {"first_name": person.first, "last_name": person.last}
        if person.account is not None:
            observed["company"] = person.account.name
            observed["job_title"] = person.title
            if personal:
                observed["email"] = self.see_email(person, person.email, (0.7, 1.0))
        if reveal and len(person.phones) < 3:
            phone = self.new_phone(person.currency)
            if phone is not None:
                person.phones.append(phone)  # from now on, calls come from this mobile
        if person.phones and (reveal or self.r() < 0.3):
            observed["phone"] = self.see_phone(person, person.phones[-1])
        payload = {
            "message_id": f"<{self.uuid4()}@mail.{VENDOR_DOMAIN}>",
            "mailbox": f"support@{VENDOR_DOMAIN}",
            "subject": subject,
            "ticket_id": ticket_id,
            "observed": observed,
        }
        self.emit(
            person, "InboundEmailReceived", "zendesk", "support", self.ids_support(person, personal), payload
        )

    def _calls(self, person: Person) -> Story:
        """Calls to the contact center: billing, how-to, upgrades, complaints, the odd cancellation."""
        while not person.erased and not (person.account is not None and person.account.churned):
            healthy = person.account.healthy if person.account else True
            intents = ("billing", "billing", "support", "upgrade", "other", "complaint") + (
                () if healthy else ("cancellation", "complaint")
            )
            intent = self.pick(intents)
            self._cc_call(
                person,
                intent,
                self.pick(("resolved", "resolved", "connected", "transferred", "callback_scheduled")),
            )
            if intent == "complaint":
                yield self.now + self.between(10 * MINUTE, 2 * HOUR)
                self._complaint(
                    person,
                    self.pick(("billing", "product", "service")),
                    self.pick(("low", "medium", "high")),
                    None,
                )
            elif intent == "upgrade" and person.account is not None and self.r() < 0.4:
                self.spawn(self._upsell(person.account), self.now + self.between(DAY, 5 * DAY))
            yield self.now + self.expo(50 * DAY / person.activity)

    def _cc_call(self, person: Person, intent: str, disposition: str) -> None:
        agent = self.pick(CC_AGENTS)
        payload: dict[str, Any] = {
            "call_id": f"gen-{self.next_id('call'):08d}",
            "intent": intent,
            "disposition": disposition,
            "duration_seconds": self.between(60, 1800),
            "agent": agent,
        }
        if person.account is not None:
            payload["caller_role"] = self.pick(("end_user", "end_user", "technical", "decision_maker"))
        ids = self.ids_phone(person, with_email=0.4)
        self.emit(person, "ContactCenterCall", "genesys", "contact_center", ids, payload, actor=agent)

    def _nps(self, person: Person, healthy: bool) -> None:
        roll = self.r()
        if healthy:
            score = (
                self.between(9, 11)
                if roll < 0.55
                else self.between(7, 9)
                if roll < 0.85
                else self.between(3, 7)
            )
        else:
            score = self.between(0, 7) if roll < 0.65 else self.between(7, 11)
        payload: dict[str, Any] = {"survey_id": f"nps-{self.now // (30 * DAY) + 1:02d}", "score": score}
        if self.r() < 0.4:
            payload["comment"] = NPS_COMMENTS[0 if score >= 9 else 1 if score >= 7 else self.between(2, 4)]
        ids = {"email": self.see_email(person, person.email, (0.9, 1.0))}
        self.emit(person, "NpsSubmitted", "qualtrics", "support", ids, payload)
