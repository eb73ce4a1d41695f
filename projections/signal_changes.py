"""What changes in a contact's signals after an event: the rules' verdicts (`projections/signals.py`)
against the signals in force — raised, updated (same signal, new reason/evidence/expiry) or cleared.
There are no timers: a signal past its expiry is inactive for readers (`expires_at`), and the next event of
the contact writes its `cleared` row.

Consent: while `marketing_email` is withdrawn no marketing signal is active; while `sales_contact` is
withdrawn no sales-outreach signal is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from .config import ProjectionConfig
from .signals import MARKETING_SIGNALS, OUTREACH_SIGNALS, RULES, Desire, SignalChange, signal_id
from .state import ActiveSignal, ContactState


def _consents(state: ContactState, purpose: str) -> bool:
    given = state.consent.get(purpose)
    return given is None or bool(given[0])


def desired(state: ContactState, now: int, config: ProjectionConfig) -> dict[str, Desire]:
    if state.erased:
        return {}
    silent: set[str] = set()
    consented = dict.fromkeys(RULES, 0)  # a signal that waited for consent holds from when it was given
    for purpose, kinds in (("marketing_email", MARKETING_SIGNALS), ("sales_contact", OUTREACH_SIGNALS)):
        if not _consents(state, purpose):
            silent |= kinds
        elif purpose in state.consent:
            consented.update((kind, max(consented[kind], state.consent[purpose][1])) for kind in kinds)
    verdicts: dict[str, Desire] = {}
    for kind, rule in RULES.items():
        if kind not in silent and (verdict := rule(state, now, config)) is not None:
            if verdict.since is not None and verdict.since < consented[kind]:
                verdict = replace(verdict, since=consented[kind])
            verdicts[kind] = verdict
    return verdicts


def reconcile(state: ContactState, now: int, config: ProjectionConfig) -> Iterator[SignalChange]:
    """Bring `state.signals` in line with the rules after an event at `now`; yield what changed.

    A signal is raised at the instant its rule says it began to hold (`Desire.since`), so the signals in
    force are the same whatever order the events came in: when a late event moves that instant, the signal
    is cleared and raised again at the right one (its id names it), as time order would have left it."""
    before = dict(state.signals)
    wanted = desired(state, now, config)
    state.signals = {}
    for kind in sorted(set(before) | set(wanted)):
        old, want = before.get(kind), wanted.get(kind)
        cleared = 0
        if old is not None and (want is None or old.expires_at <= now or _redated(old, want, now)):
            yield SignalChange(old, "cleared", now, True)
            if want is None or old.expires_at <= now:  # ended, not redated
                cleared = old.raised_at
            old = None
        if want is None:
            continue
        if old is None:
            # At most now; after one that expired just now, so the new signal never takes its id.
            raised = now if want.since is None or not cleared < want.since <= now else want.since
            new = ActiveSignal(
                signal_id(state.contact_id, kind, str(raised)),
                kind,
                want.reason,
                want.evidence,
                raised,
                want.expires_at,
            )
            state.signals[kind] = new
            yield SignalChange(new, "raised", 0, True)
            continue
        kept = ActiveSignal(old.signal_id, kind, want.reason, want.evidence, old.raised_at, want.expires_at)
        state.signals[kind] = kept
        if kept != old:
            yield SignalChange(kept, "raised", 0, False)


def _redated(old: ActiveSignal, want: Desire, now: int) -> bool:
    """The rule now says the active signal began to hold at another instant than it was raised at."""
    return want.since is not None and want.since <= now and want.since != old.raised_at
