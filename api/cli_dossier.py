"""``freshproof dossier ...``: export a claim's dossier, verify one offline with the public key.

``export`` reads the configured database (like ``freshproof ledger``); ``verify`` needs only
the file and the key ``GET /v1/ledger/key`` returns, so a counter-party can run it anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="Claim dossiers, checked offline with the log's key.", no_args_is_help=True)


def _key_text(key: str) -> str:
    path = Path(key)
    return path.read_text().strip() if path.is_file() else key.strip()


@app.command()
def export(
    claim_id: Annotated[str, typer.Argument(help="The claim's id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write the claim's dossier: its entries with proofs against one signed checkpoint."""
    from api.services import build_services
    from claims.errors import UnknownClaimError
    from dossier.build import build_dossier

    services = build_services(Settings())
    try:
        doc = build_dossier(
            ledger=services.ledger,
            signer=services.signer,
            engine=services.engine,
            claim_id=claim_id,
        )
    except UnknownClaimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}: {len(doc['entries'])} entries, anchor {doc['anchor']['status']}")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="A dossier (freshproof dossier export).")],
    key: Annotated[
        str, typer.Option(help="The log's verifier key (GET /v1/ledger/key), text or file.")
    ],
) -> None:
    """Run every check on the dossier; exit 0 if all pass, 1 (failures on stdout) if not."""
    from dossier.verify import verify_dossier

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        verifier = _key_text(key)
    except (OSError, ValueError) as exc:
        typer.echo(f"FAIL: cannot read the dossier or the key: {exc}")
        raise typer.Exit(1) from exc
    if not isinstance(doc, dict):
        typer.echo("FAIL: the dossier is not a JSON object")
        raise typer.Exit(1)
    report = verify_dossier(doc, verifier)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(0 if report.ok else 1)
