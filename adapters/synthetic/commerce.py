"""Commerce's stories: orders, subscriptions and their renewals, the web shop."""

from __future__ import annotations

from .state import DAY, HOUR, Account, Person, Story, Subscription, b62, money, order_lines
from .vocabulary import CONSUMER_SKUS
from .world import WorldBase


class CommerceStories(WorldBase):
    """What stripe and shopify record."""

    def _order(self, account: Account, person: Person, plan: str, seats: int, seat_cents: int) -> None:
        items = [(f"BL-{plan.upper()}-SEAT", seats, seat_cents * 10)]
        if self.r() < 0.5:
            items.append(("BL-ONBOARDING", 1, 250_000))
        payload = {"order_id": f"ord_{self.next_id('order'):08d}", **order_lines(items, account.currency)}
        self.emit(person, "OrderPlaced", "stripe", "commerce", self.ids_commerce(person, "stripe"), payload)

    def _onboard(self, account: Account, person: Person, plan: str, cents: int) -> None:
        """A won deal becomes a subscription and a customer: their people start using (and asking) us."""
        sub = Subscription(
            sub_id="sub_" + b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan=plan,
            period="annual",
            cents=cents,
            renews=self.now + 365 * DAY,
        )
        if self.r() < 0.3:  # some start monthly, which renews inside the window
            sub.period, sub.cents, sub.renews = "monthly", cents // 10, self.now + 30 * DAY
        self._subscription_event(person, "SubscriptionStarted", sub, account.currency)
        account.is_customer = True
        self.spawn(self._renewals(account, sub), self.now + DAY)
        for colleague in account.persons:
            if colleague.entry == "late" and not colleague.entered:
                self.spawn(self._enter(colleague), self.now + self.between(2 * DAY, 20 * DAY))
            elif colleague.entered:
                self.activate_service(colleague)

    def _subscription_event(self, person: Person, type_name: str, sub: Subscription, currency: str) -> None:
        payload = {
            "subscription_id": sub.sub_id,
            "plan": sub.plan,
            "amount": money(sub.cents, currency),
            "renews_on": self.clock.date(sub.renews),
        }
        if type_name == "SubscriptionStarted":
            payload["period"] = sub.period
        self.emit(person, type_name, "stripe", "commerce", self.ids_commerce(person, "stripe"), payload)

    def _renewals(self, account: Account, sub: Subscription) -> Story:
        """NPS three weeks before a renewal, then the renewal (or, for the unhappy, a cancellation)."""
        holder = account.persons[0]
        while True:
            survey_at = sub.renews - 21 * DAY
            if survey_at > self.now and (sub.period == "annual" or sub.renewals % 3 == 0):
                yield survey_at
                for person in [p for p in account.persons if p.entered][:2]:
                    self._nps(person, account.healthy)
            yield max(sub.renews, self.now)
            if self.r() < (0.04 if account.healthy else 0.5):
                payload = {
                    "subscription_id": sub.sub_id,
                    "effective_on": self.clock.date(sub.renews),
                    "reason": "Not enough value",
                }
                self.emit(
                    holder,
                    "SubscriptionCancelled",
                    "stripe",
                    "commerce",
                    self.ids_commerce(holder, "stripe"),
                    payload,
                )
                account.churned = True
                return
            sub.renewals += 1
            sub.renews += 365 * DAY if sub.period == "annual" else 30 * DAY
            self._subscription_event(holder, "SubscriptionRenewed", sub, account.currency)

    def _shopper(self, person: Person) -> Story:
        """A consumer buying from the web shop every month or two; some take the personal plan."""
        while not person.erased:
            items = [
                (sku, self.between(1, 3), cents)
                for sku, cents in self.rng.sample(CONSUMER_SKUS, self.between(1, 3))
            ]
            payload = {"order_id": f"#{self.next_id('shop') + 1000}", **order_lines(items, person.currency)}
            self.emit(
                person, "OrderPlaced", "shopify", "commerce", self.ids_commerce(person, "shopify"), payload
            )
            if not person.has_plan and self.r() < 0.15:
                person.has_plan = True
                self.spawn(self._personal_plan(person), self.now + self.between(HOUR, DAY))
            if self.r() < 0.1:
                yield self.now + self.between(2 * DAY, 6 * DAY)
                self._nps(person, person.activity > 0.7)
            yield self.now + self.expo(40 * DAY / person.activity)

    def _personal_plan(self, person: Person) -> Story:
        sub = Subscription(
            sub_id="sub_" + b62(self.next_id("sub") * 92_821 + 3_000_017, 14),
            plan="Personal",
            period="monthly",
            cents=1_200,
            renews=self.now + 30 * DAY,
        )
        self._subscription_event(person, "SubscriptionStarted", sub, person.currency)
        while not person.erased:
            yield sub.renews
            if self.r() < 0.1:
                payload = {"subscription_id": sub.sub_id, "effective_on": self.clock.date(sub.renews)}
                self.emit(
                    person,
                    "SubscriptionCancelled",
                    "stripe",
                    "commerce",
                    self.ids_commerce(person, "stripe"),
                    payload,
                )
                return
            sub.renews += 30 * DAY
            self._subscription_event(person, "SubscriptionRenewed", sub, person.currency)
