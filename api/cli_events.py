"""``freshproof events import``: EPCIS 2.0 JSON documents or plain logger CSV exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings

app = typer.Typer(help="Supply-chain events.", no_args_is_help=True)

_CHUNK = 500


@app.command("import")
def import_events(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON(-LD) document, or a logger CSV.")],
    gtin: Annotated[
        str | None, typer.Option(help="CSV only: GTIN that bare lot codes belong to.")
    ] = None,
    speaks_for: Annotated[
        list[str] | None,
        typer.Option(
            "--speaks-for",
            help="Import on behalf of this party (repeatable): bound as its API key would be.",
        ),
    ] = None,
) -> None:
    """Validate the whole file first (nothing is written if any event is bad), then append.

    \b
    Who wrote it: the entries name cli:<os user>. With --speaks-for the
    import is that party's, bound as the party's API key is: events only
    for the part of each lot's history the party took part in, or
    nothing is imported; each event is captured for those of the
    parties that took part in it, as with their key. Without it the import is the operator's own
    (a logger export, say): it speaks for no party, and verdicts count
    it as an independent record.

    \b
    A .csv file is a temperature-logger export: a header row, then one
    reading a row; comma, semicolon or tab separated (decimal commas with
    ; or tab). Columns by header name (case and punctuation ignored):
    device_id    the logger (or device, logger, logger_id); a bare id
                 becomes urn:freshproof:logger:<id>
    lot          a lot URI as written (urn:epc:class:lgtin:... or
                 https://id.gs1.org/01/GTIN/10/LOT), or a bare lot code
                 with --gtin (or lot_id, lot_number, batch, epc)
    timestamp    ISO 8601 with an offset: 2024-05-01T22:00:00Z (or time,
                 datetime); a time without an offset is refused
    temperature  the reading (or temp), in °C unless a unit column (unit,
                 uom: C, F or K) or the header (temperature_c, temp_f,
                 kelvin, ...) says otherwise
    Each logger, lot and UTC hour becomes one EPCIS ObjectEvent (bizStep
    sensor_reporting) keeping every reading as logged. A bad cell rejects
    the whole file, naming each row and column.
    """
    from rich.progress import Progress

    from api.cli_support import cli_actor
    from api.held_captures import release_held_captures
    from api.services import build_services
    from claims.reassess import reassess_after_capture
    from ledger.errors import LedgerError
    from supplychain.authorship import NotYourCustodyError, bound_to
    from supplychain.capture import capture_events
    from supplychain.coldchain_csv import parse_logger_csv, readings_to_epcis
    from supplychain.epcis import parse_document

    try:
        if file.suffix.lower() == ".csv":
            document = readings_to_epcis(parse_logger_csv(file.read_text()), gtin=gtin)
        else:
            document = json.loads(file.read_text())
        parsed = parse_document(document)
    except (LedgerError, json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"rejected, nothing imported: {exc}", err=True)
        raise typer.Exit(1) from exc
    parties = tuple(speaks_for or ())
    services = build_services(Settings())
    appended = duplicates = 0
    indices: list[int] = []
    try:
        if parties:
            # The whole file first, so a refusal imports nothing; each chunk again under
            # the write lock below.
            with services.ledger.engine.connect() as conn:
                bound_to(parties)(conn, parsed.events)
        # Chunks keep each transaction short on big files; every chunk is all-or-nothing and
        # a rerun after an interruption skips what landed (events are deduplicated by hash).
        with Progress(transient=True) as progress:
            task = progress.add_task(f"importing {file.name}", total=len(parsed.events))
            for start in range(0, len(parsed.events), _CHUNK):
                chunk = parsed.events[start : start + _CHUNK]
                result = capture_events(
                    ledger=services.ledger,
                    events_in=chunk,
                    actor=cli_actor(),
                    speaks_for=parties,
                    check=bound_to(parties) if parties else None,
                )
                appended += len(result.appended)
                duplicates += len(result.duplicates)
                indices += result.indices  # a re-run finishes a reassessment cut short
                progress.advance(task, len(chunk))
        # Late records about a lot's past: its claims are assessed again (GUIDE §4 rule 6).
        changed = reassess_after_capture(
            ledger=services.ledger,
            appended=indices,
            config=services.claims_config,
            now=datetime.now(UTC),
            actor="cli",
        )
        # The records may be what held receipts wait for (the operator recording the handover
        # of a custodian that records nothing): those are appended now, as after an API capture.
        released = release_held_captures(services, captured=parsed.events) if indices else ()
    except NotYourCustodyError as exc:
        typer.echo(f"refused, {appended} events imported: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    typer.echo(f"{appended} events appended, {duplicates} already in the ledger")
    for held in released:
        typer.echo(f"held capture {held.id} released: entries {list(held.ledger_indices)}")
    moved = [r for r in changed if r.outcome != "unchanged"]
    for r in moved:
        typer.echo(
            f"claim {r.claim_id} {r.outcome}: {r.before} -> {r.after} (entry {r.ledger_index})"
        )
