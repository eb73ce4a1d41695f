"""Master data's story: consent given and withdrawn, details observed, erasure requests."""

from __future__ import annotations

from typing import Any

from .state import DAY, Person, Story
from .vocabulary import TITLES_LEAD, TITLES_STAFF
from .world import WorldBase


class MasterdataStories(WorldBase):
    """What admins record in the CRM."""

    def _masterdata(self, person: Person) -> Story:
        """Consent given and withdrawn, details observed by admins, now and then an erasure request."""
        while not person.erased:
            roll = self.r()
            if roll < 0.45:
                self._details_observed(person)
            elif roll < 0.78:
                payload = {
                    "purpose": self.pick(("marketing_email", "analytics", "sales_contact")),
                    "channel": "web",
                    "wording_version": "consent-v3",
                }
                self.emit(person, "ConsentGiven", "crm_admin", "system", self.ids_system(person), payload)
            elif roll < 0.96 or person.account is not None:
                purpose = self.pick(("analytics", "third_party_sharing", "marketing_email"))
                person.subscribed = person.subscribed and purpose != "marketing_email"
                self.emit(
                    person,
                    "ConsentWithdrawn",
                    "crm_admin",
                    "system",
                    self.ids_system(person),
                    {"purpose": purpose, "channel": "email"},
                )
            else:
                payload = {
                    "request_id": f"dsr-{self.next_id('dsr'):05d}",
                    "requested_by": person.full_name,
                    "note": "GDPR Art. 17 request",
                }
                self.emit(person, "ErasureRequested", "crm_admin", "system", self.ids_system(person), payload)
                person.erased = True
                return
            yield self.now + self.expo(45 * DAY)

    def _details_observed(self, person: Person) -> None:
        payload: dict[str, Any] = {}
        roll = self.r()
        if person.account is not None and roll < 0.4:
            person.title = self.pick(TITLES_STAFF + TITLES_LEAD)  # a promotion or a new role
            payload["job_title"] = person.title
        elif person.personal is not None and roll < 0.7:
            payload["email"] = self.see_email(person, person.personal, (0.6, 0.9))
        elif person.phones:
            payload["phone"] = self.see_phone(person, person.phones[-1])
        else:
            payload["last_name"] = person.last
        self.emit(person, "ContactDetailsObserved", "crm_admin", "system", self.ids_system(person), payload)
