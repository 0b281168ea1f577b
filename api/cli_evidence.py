"""``freshproof evidence ...``: find and remove evidence files no record names.

Registered in ``api.cli`` as the ``evidence`` group; ``python -m api.cli_evidence sweep``
runs the same command on its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from api.cli_support import cli_actor
from api.settings import Settings

app = typer.Typer(help="Evidence files: orphans and leftovers.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Evidence files: orphans and leftovers."""


@app.command("sweep")
def sweep_cmd(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    grace_minutes: Annotated[
        float,
        typer.Option(min=0, help="Spare files written this recently (uploads in flight)."),
    ] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write the full JSON report to this file.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Sweep even when the database names none of the store's photos."
        ),
    ] = False,
) -> None:
    """Remove photos no claim, station batch, job or ledger entry names, and .tmp-* files.

    Each removed photo's hash and size go into an ``evidence.swept`` ledger entry; what
    the store refuses to remove (an S3 original under retention) is reported, not forced.
    """
    from api.services import build_services
    from claims.sweep import SweepRefusedError, sweep
    from storage.errors import StorageError
    from storage.sweep import inventory_for

    services = build_services(Settings())
    try:
        result = sweep(
            ledger=services.ledger,
            inventory=inventory_for(services.evidence),
            now=datetime.now(UTC),
            grace=timedelta(minutes=grace_minutes),
            actor=cli_actor(),
            dry_run=dry_run,
            force=force,
        )
    except (SweepRefusedError, StorageError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    data = result.as_dict()
    if report is not None:
        report.write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    plan = data["plan"]
    typer.echo(
        f"{plan['store']}: {plan['photos']} photos, {plan['referenced']} referenced, "
        f"{len(plan['orphans'])} orphans ({plan['orphan_bytes']} bytes) older than "
        f"{grace_minutes:g} min, {plan['recent_unreferenced']} unreferenced but recent; "
        f"{len(plan['temp_files'])} stale temp files"
    )
    if dry_run:
        typer.echo("dry run: nothing removed")
        return
    typer.echo(
        f"removed {len(data['removed'])} photos ({data['removed_bytes']} bytes) and "
        f"{data['temp_files_removed']} temp files; ledger entries {data['ledger_indices']}"
    )
    for row in data["not_removed"]:
        for kept in row["kept"]:
            typer.echo(f"not removed: {kept['object']}: {kept['reason']}")
    for row in data["spared"]:
        typer.echo(f"spared {row['sha256']}: {row['reason']}")


if __name__ == "__main__":
    app()
