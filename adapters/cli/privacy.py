"""`touchstream privacy`: the erasure audit and the key-encryption key's rotation (docs/privacy.md)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help=(
        "Crypto-shredding: every personal field on the logs is sealed with its subject's key, and an "
        "erasure destroys the key. See who asked for which erasure, and rotate the key that wraps the keys."
    ),
    no_args_is_help=True,
)


@app.command()
def audit() -> None:
    """Every erasure: when, who asked (the ErasureRequested event's actor or source), which request, how
    many data keys were destroyed; then the subjects seen again after their erasure (each got a new key
    generation: the returning person is a new subject, and the old records stay unreadable).

    Subjects are keyed hashes of identifiers, never the identifiers: the audit names no one.
    Example: `touchstream privacy audit`.
    """
    from ..bootstrap import bootstrap, open_key_store

    store = open_key_store(bootstrap().settings)
    try:
        records, back = store.audit(), store.reissued()
    finally:
        store.close()
    typer.echo(f"{len(records)} subject(s) shredded")
    for record in records:
        typer.echo(
            f"{record.at}  subject {record.subject[:12]}…  by {record.requested_by}  "
            f"({record.reason})  keys destroyed: {record.keys_destroyed}"
        )
    typer.echo(f"{len(back)} erased subject(s) seen again")
    for again in back:
        typer.echo(f"{again.created_at}  subject {again.subject[:12]}…  generation {again.generation}")


@app.command("rotate-kek")
def rotate_kek(
    new_key: Annotated[
        str | None,
        typer.Option(help="the new key-encryption key, base64 of 32 bytes (default: a fresh random one)"),
    ] = None,
    new_key_id: Annotated[
        str | None, typer.Option(help="a name for it, recorded beside each wrapped key (default: next)")
    ] = None,
) -> None:
    """Re-wrap every live data key with a new key-encryption key (KEK), in one transaction. The records
    on the logs do not change: they are sealed with the data keys, which stay the same.

    Embedded, the data folder's `key-encryption-key` file is replaced. In production (the KEK comes from
    `TOUCHSTREAM_KEY_ENCRYPTION_KEY`), pass `--new-key` and `--new-key-id`, then give every process the
    new values; destroy the old KEK once none uses it, so no backup of a wrapped key can be opened with it.
    Example: `touchstream privacy rotate-kek`.
    """
    from ..bootstrap import (
        KEK_FILE,
        bootstrap,
        decoded_secret,
        key_encryption_key,
        new_secret,
        open_key_store,
    )
    from ..private_files import write_private

    settings = bootstrap().settings
    if settings.key_encryption_key and not (new_key and new_key_id):
        raise typer.BadParameter(
            "the KEK comes from TOUCHSTREAM_KEY_ENCRYPTION_KEY: give --new-key and --new-key-id, then set "
            "both variables for every process",
            param_hint="--new-key",
        )
    old_id, _ = key_encryption_key(settings)
    kek_id = new_key_id or _next_id(old_id)
    encoded = new_key or new_secret()
    kek = decoded_secret(encoded, "--new-key")
    store = open_key_store(settings)
    try:
        count = store.rotate_kek(kek, kek_id)
    finally:
        store.close()
    if not settings.key_encryption_key:
        write_private(settings.data_dir / KEK_FILE, f"{kek_id} {encoded}\n")
        typer.echo(f"{count} data key(s) re-wrapped with {kek_id} (was {old_id}); {KEK_FILE} replaced")
    else:
        typer.echo(
            f"{count} data key(s) re-wrapped with {kek_id} (was {old_id}); now set "
            f"TOUCHSTREAM_KEY_ENCRYPTION_KEY_ID={kek_id} and the new TOUCHSTREAM_KEY_ENCRYPTION_KEY "
            "for every process"
        )


def _next_id(kek_id: str) -> str:
    stem, _, number = kek_id.rpartition("-")
    return f"{stem}-{int(number) + 1}" if stem and number.isdigit() else f"{kek_id}-2"
