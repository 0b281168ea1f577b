"""``freshproof export fsma``: the FDA FSMA 204 sortable spreadsheet of a lot, a date range or
a product, read from the configured database (like ``freshproof ledger``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="Exports for regulators.", no_args_is_help=True)


@app.command()
def fsma(
    lot: Annotated[
        str | None, typer.Option(help="The lot: an LGTIN URI, a GS1 Digital Link or a lot code.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Events at or after this ISO 8601 date or time (UTC if bare)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Events before this time, or through this date (ISO 8601)."),
    ] = None,
    product: Annotated[
        str | None, typer.Option(help="A GTIN, or words of the product description.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (CSV goes to stdout without).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or xlsx (default: the output's suffix, else csv)."),
    ] = None,
) -> None:
    """Write one row per critical tracking event with its key data elements (21 CFR 1.1325-1.1350).

    \b
    A KDE the records do not give reads "MISSING: <why>"; one they give in part ends with
    "[not on record: ...]"; a cell the event's CTE does not ask for is empty. The last
    columns name the ledger entry of each row, so each row can be proved with the log.
    """
    from api.services import build_services
    from ledger.errors import LedgerError
    from supplychain.fsma import FSMAQuery, export_fsma, parse_bound

    chosen = (fmt or (output.suffix.lstrip(".").lower() if output else "") or "csv").lower()
    if chosen not in ("csv", "xlsx"):
        typer.echo(f"error: --format must be csv or xlsx, not {chosen!r}", err=True)
        raise typer.Exit(2)
    if chosen == "xlsx" and output is None:
        typer.echo("error: an xlsx export needs --output", err=True)
        raise typer.Exit(2)
    services = build_services(Settings())
    try:
        query = FSMAQuery(
            lot=lot,
            start=parse_bound(start, end=False) if start else None,
            end=parse_bound(end, end=True) if end else None,
            product=product,
        )
        export = export_fsma(ledger=services.ledger, query=query, fmt=chosen)  # type: ignore[arg-type]
    except LedgerError as exc:  # an unknown lot, a query that cannot run
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    missing = sum(len(r.missing) for r in export.rows)
    if output is None:
        typer.echo(export.content, nl=False)  # the file's bytes, as -o would write them
        return
    output.write_bytes(export.content)
    typer.echo(
        f"wrote {output}: {len(export.rows)} rows, {missing} missing key data elements "
        f"named, read at ledger size {export.ledger_size}"
    )
