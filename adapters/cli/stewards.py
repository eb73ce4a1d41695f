"""`touchstream stewards`: the data-steward queue of duplicate suspects — list, merge, dismiss — and undo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

if TYPE_CHECKING:
    from ..master_record.application import MasterRecord

app = typer.Typer(
    help=(
        "Duplicate suspects raised by weak evidence (a shared phone, the same name at the same company): "
        "nothing merges until a steward says so."
    ),
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="master-record URL: sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
        "(default: the mode's master record: TOUCHSTREAM_MASTER_RECORD_URL, else SQLite in "
        "TOUCHSTREAM_DATA_DIR, or PostgreSQL with TOUCHSTREAM_MODE=production)",
    ),
]
ActorOption = Annotated[str, typer.Option("--by", help="who decides (recorded with the decision)")]


def _open(store: str | None) -> MasterRecord:
    from ..bootstrap import bootstrap
    from ..master_record.application import MasterRecord

    runtime = bootstrap()
    return MasterRecord.from_url(store or runtime.master_record_url(), settings=runtime.settings)


def _describe(app_: MasterRecord, contact_id: UUID) -> str:
    contact = app_.contact(contact_id)
    name = " ".join(v for v in (contact.value("first_name"), contact.value("last_name")) if v)
    ids = ", ".join(k.split(":", 1)[1] for k in contact.identifiers[:3]) or "no strong identifier"
    return f"{contact.id} {name or '(no name)'} <{ids}>"


@app.command("list")
def list_(
    store: StoreOption = None,
    status: Annotated[str, typer.Option(help="open, merged, dismissed, withdrawn or all")] = "open",
    limit: Annotated[int, typer.Option(min=1, help="show at most this many")] = 50,
) -> None:
    """The queue, oldest first: suspect id, reason, the evidence, and the two contacts.

    Example: `touchstream stewards list --store postgresql://postgres@127.0.0.1:15432/touchstream`.
    """
    master = _open(store)
    try:
        shown = 0
        for suspect in master.suspects(None if status == "all" else status):
            typer.echo(f"{suspect.id}  {suspect.status:9}  {suspect.reason}  ({suspect.identifier})")
            typer.echo(f"    {_describe(master, suspect.contact_id)}")
            typer.echo(f"    {_describe(master, suspect.other_id)}")
            shown += 1
            if shown >= limit:
                break
        if not shown:
            typer.echo(f"no {status} duplicate suspects")
    finally:
        master.close()


@app.command("merge")
def merge(
    suspect: Annotated[UUID, typer.Argument(help="the suspect id from `stewards list`")],
    by: ActorOption,
    store: StoreOption = None,
) -> None:
    """Agree: merge the two contacts (the oldest survives) and close the suspect.

    Example: `touchstream stewards merge 3f0c… --by ann`. Undo with `touchstream stewards unmerge`.
    """
    master = _open(store)
    try:
        survivor = master.merge_suspect(suspect, actor=by)
        typer.echo(f"merged; survivor {survivor}")
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        master.close()


@app.command("dismiss")
def dismiss(
    suspect: Annotated[UUID, typer.Argument(help="the suspect id from `stewards list`")],
    by: ActorOption,
    note: Annotated[str, typer.Option(help="why they are different people")] = "",
    store: StoreOption = None,
) -> None:
    """Disagree: they are different people; the suspect closes and is not raised again for this pair.

    Example: `touchstream stewards dismiss 3f0c… --by ann --note "two Jane Does"`.
    """
    master = _open(store)
    try:
        master.dismiss(suspect, actor=by, note=note)
        typer.echo("dismissed")
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        master.close()


@app.command("unmerge")
def unmerge(
    contact: Annotated[UUID, typer.Argument(help="the merged contact's id")],
    by: ActorOption,
    note: Annotated[str, typer.Option(help="why the merge was wrong")] = "",
    store: StoreOption = None,
) -> None:
    """Undo a merge: the contact stands alone with its own identifiers; the survivor keeps what it learned
    since.

    Example: `touchstream stewards unmerge 9a1e… --by ann --note "father and son"`.
    """
    master = _open(store)
    try:
        survivor = master.unmerge(contact, actor=by, note=note)
        typer.echo(f"unmerged {contact} from {survivor}")
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        master.close()


@app.command("scan")
def scan_(store: StoreOption = None) -> None:
    """Score every pair of contacts the blocking proposes with the Fellegi-Sunter model fitted on them:
    likely duplicates become `probable_match` suspects (score and agreeing fields in the evidence); a pair
    above the merge threshold that also shares a strong identifier merges. Thresholds:
    TOUCHSTREAM_LINKAGE_SUSPECT_THRESHOLD, TOUCHSTREAM_LINKAGE_MERGE_THRESHOLD.

    Example: `touchstream stewards scan`, then `touchstream stewards list`.
    """
    from ..bootstrap import bootstrap
    from ..master_record.linkage import scan
    from .progress import progress_bar

    master = _open(store)
    try:
        with progress_bar("scan", None) as advance:
            summary, _ = scan(master, settings=bootstrap().settings, progress=advance)
        typer.echo(
            f"{summary.contacts} contacts, {summary.pairs} pairs scored (EM: {summary.em_iterations} "
            f"iterations): {summary.suspects} new suspects, {summary.merges} merges, "
            f"{summary.withdrawn} suspects withdrawn as disproved, "
            f"{summary.households} household pairs kept apart, {summary.already} already in the queue; "
            f"{summary.seconds:.1f} s ({summary.per_second:,.0f} contacts/s)"
        )
    finally:
        master.close()
