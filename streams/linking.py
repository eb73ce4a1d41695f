"""The linking step: after a batch is resolved, its new or changed contacts are scored against every other
contact (probabilistic duplicate suspects, docs/identity.md), so pairs only a person's details tie together
are found as events arrive, not only by a bulk `touchstream stewards scan`.

Both runtimes call `link_batch` right after `resolve_batch` and before they hand the batch on (the embedded
runner before its relay and raw commit, the Faust ingest agent on the master record's thread, retried like
resolution): a crash in between resolves the batch again (idempotent) and links it again, and linking is
idempotent too (one suspect per pair and reason). Which contacts to score comes from the batch (the
contact ids its touchpoints were resolved to); whether each one changed is the linker's to know (it follows
the master record's own log), so a contact that only a cached identifier named is not scored again.
"""

from __future__ import annotations

from .ports import ContactLinker, LinkCounts
from .steps import ResolvedBatch


def batch_contacts(batch: ResolvedBatch) -> list[str]:
    """The distinct contacts the batch's touchpoints were resolved to, sorted: the order the batch's events
    arrived in does not decide the order they are scored in."""
    return sorted({t.contact_id for t in batch.touchpoints if t.contact_id is not None})


def link_batch(linker: ContactLinker | None, batch: ResolvedBatch) -> LinkCounts:
    """Score the batch's contacts that changed against the index; nothing when linking is off."""
    if linker is None or not batch.touchpoints:
        return LinkCounts()
    return linker.link(batch_contacts(batch))
