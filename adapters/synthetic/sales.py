"""Sales' stories: a lead worked into an opportunity, its meetings and quotes, won or lost."""

from __future__ import annotations

from .state import DAY, HOUR, MINUTE, Account, Person, Story, b62, money
from .vocabulary import COMPETITORS, DISQUALIFY_REASONS, LOST_REASONS, PLANS, SALES_REPS
from .world import WorldBase


class SalesStories(WorldBase):
    """What the reps log in salesforce."""

    def _sales_journey(self, account: Account, warm: bool, lead_source: str | None = None) -> Story:
        """Marketing touches, then a lead, qualification, an opportunity through its stages, won or lost."""
        person = account.persons[0]
        if warm:
            self.activate(person)
            kinds = [self.pick(("ad", "content", "webinar", "form")) for _ in range(self.between(2, 5))]
            for kind in kinds:
                yield from self._touch(person, kind)
                yield self.now + self.between(DAY, 6 * DAY)
            lead_source = {"ad": "advertising", "content": "content", "webinar": "event", "form": "web"}[
                kinds[0]
            ]
            lead_source = "outbound" if self.r() < 0.1 else lead_source
        rep = self.pick(SALES_REPS)
        yield self.office(self.now)
        person.lead_id = "00Q" + b62(self.next_id("lead") * 6007 + 4_000_037, 15)
        self._lead_created(person, lead_source or "web", rep)
        for _ in range(self.between(1, 4)):
            yield self.office(self.now + self.between(HOUR, 3 * DAY))
            self._call(person, rep, lead=True)
        yield self.office(self.now + self.between(HOUR, 4 * DAY))
        if self.r() < 0.22:
            reason = self.pick(DISQUALIFY_REASONS)
            ids = self.ids_sales(person, lead=True)
            self.emit(
                person,
                "LeadDisqualified",
                "salesforce",
                "sales",
                ids,
                {"lead_id": person.lead_id, "reason": reason},
                rep,
            )
            return
        ids = self.ids_sales(person, lead=True)
        payload = {"lead_id": person.lead_id, "owner": rep, "reason": "Budget and timeline confirmed"}
        self.emit(person, "LeadQualified", "salesforce", "sales", ids, payload, rep)
        person.converted = True
        yield self.office(self.now + self.between(HOUR, 3 * DAY))
        yield from self._opportunity(account, person, rep, new_business=True)

    def _lead_created(self, person: Person, lead_source: str, rep: str) -> None:
        account = person.account
        assert account is not None
        payload = {
            "lead_id": person.lead_id,
            "lead_source": lead_source,
            "owner": rep,
            "first_name": person.first,
            "last_name": person.last,
            "company": account.name,
            "job_title": person.title,
            "industry": account.industry,
        }
        self.emit(
            person, "LeadCreated", "salesforce", "sales", self.ids_sales(person, lead=True), payload, rep
        )

    def _call(self, person: Person, rep: str, lead: bool = False) -> None:
        disposition = self.pick(("connected", "connected", "voicemail", "no_answer"))
        payload = {
            "call_id": f"sfc-{self.next_id('sfcall'):08d}",
            "direction": "outbound" if self.r() < 0.85 else "inbound",
            "disposition": disposition,
            "duration_seconds": self.between(300, 2400)
            if disposition == "connected"
            else self.between(0, 60),
            "owner": rep,
        }
        self.emit(person, "CallLogged", "salesforce", "sales", self.ids_sales(person, lead), payload, rep)

    def _opportunity(self, account: Account, person: Person, rep: str, new_business: bool) -> Story:
        plan, seat_cents = self.pick(PLANS)
        seats = self.between(10, 300) if new_business else self.between(5, 60)
        cents = seats * seat_cents * 10
        opp_id = "006" + b62(self.next_id("opp") * 7901 + 5_000_011, 15)
        self._opportunity_created(account, person, rep, opp_id, plan, cents)
        stages = ("prospecting", "qualification", "proposal", "negotiation")
        win = self.r() < (0.6 if account.healthy or new_business else 0.35)
        lose_at = 4 if win else self.between(1, 5)
        for step in range(1, 4):
            yield self.office(self.now + self.between(2 * DAY, 10 * DAY))
            self._meeting(account, person, rep, opp_id)
            if step == lose_at:
                break
            yield self.now + self.between(15 * MINUTE, 3 * HOUR)  # the rep updates the CRM after the meeting
            cents = cents if self.r() < 0.7 else cents * self.between(80, 120) // 100
            self._stage(person, rep, opp_id, stages[step - 1], stages[step], cents, account.currency)
            if stages[step] == "proposal":
                yield self.now + self.between(HOUR, DAY)
                self._quote(person, opp_id, cents, account.currency, rep)
        yield self.office(self.now + self.between(DAY, 8 * DAY))
        if not win:
            payload = {
                "opportunity_id": opp_id,
                "reason": self.pick(LOST_REASONS),
                "competitor": self.pick(COMPETITORS),
            }
            self.emit(person, "OpportunityLost", "salesforce", "sales", self.ids_sales(person), payload, rep)
            return
        payload = {"opportunity_id": opp_id, "amount": money(cents, account.currency)}
        self.emit(person, "OpportunityWon", "salesforce", "sales", self.ids_sales(person), payload, rep)
        yield self.now + self.between(HOUR, DAY)
        self._order(account, person, plan, seats, seat_cents)
        if new_business:
            self._onboard(account, person, plan, cents)

    def _opportunity_created(
        self, account: Account, person: Person, rep: str, opp_id: str, plan: str, cents: int
    ) -> None:
        payload = {
            "opportunity_id": opp_id,
            "name": f"{account.name} - {plan}",
            "amount": money(cents, account.currency),
            "stage": "prospecting",
            "owner": rep,
            "expected_close": self.clock.date(self.now + self.between(30 * DAY, 90 * DAY)),
            "industry": account.industry,
        }
        self.emit(person, "OpportunityCreated", "salesforce", "sales", self.ids_sales(person), payload, rep)

    def _stage(
        self, person: Person, rep: str, opp_id: str, old: str, new: str, cents: int, currency: str
    ) -> None:
        payload = {
            "opportunity_id": opp_id,
            "from_stage": old,
            "to_stage": new,
            "amount": money(cents, currency),
            "owner": rep,
        }
        self.emit(
            person, "OpportunityStageChanged", "salesforce", "sales", self.ids_sales(person), payload, rep
        )

    def _quote(self, person: Person, opp_id: str, cents: int, currency: str, rep: str) -> None:
        payload = {
            "quote_id": f"Q-{self.next_id('quote'):06d}",
            "opportunity_id": opp_id,
            "amount": money(cents, currency),
            "valid_until": self.clock.date(self.now + 30 * DAY),
        }
        self.emit(person, "QuoteSent", "salesforce", "sales", self.ids_sales(person), payload, rep)

    def _meeting(self, account: Account, person: Person, rep: str, opp_id: str) -> None:
        """One meeting, logged once per attendee: colleagues join (and some are new to us)."""
        others = [p for p in account.persons[1:] if p.entered or p.entry == "late"]
        attendees = [person, *self.rng.sample(others, min(len(others), self.between(0, 3)))]
        payload = {
            "meeting_id": f"mtg-{self.next_id('meeting'):07d}",
            "subject": self.pick(("Discovery call", "Product demo", "Security review", "Commercial terms")),
            "owner": rep,
            "duration_minutes": self.pick((30, 45, 60)),
            "opportunity_id": opp_id,
        }
        for attendee in attendees:
            self.activate(attendee)
            attendee.converted = True
            self.emit(attendee, "MeetingHeld", "salesforce", "sales", self.ids_sales(attendee), payload, rep)

    def _upsell(self, account: Account) -> Story:
        """A customer buys more seats: an opportunity without a lead."""
        candidates = [p for p in account.persons if p.entered and not p.erased]
        if candidates and not account.churned and not account.selling:
            account.selling = True
            yield self.office(self.now)
            yield from self._opportunity(account, candidates[0], self.pick(SALES_REPS), new_business=False)
            account.selling = False
