"""``freshproof ledger ...``: audit a database, verify a proof offline, publish checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlalchemy.exc import SQLAlchemyError

from api.settings import Settings

app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)


def _key_text(key: str) -> str:
    path = Path(key)
    return path.read_text().strip() if path.is_file() else key.strip()


@app.command()
def verify(
    key: Annotated[
        str | None,
        typer.Option(help="Verifier key (text or file) the checkpoints must be signed by."),
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: the configured one.")] = None,
) -> None:
    """Recompute chain, tree and checkpoints from the stored records; exit 1 on the first fault."""
    from ledger.audit import audit
    from ledger.errors import LedgerError
    from storage.db import make_engine

    settings = Settings()
    engine = make_engine(database_url or settings.resolved_database_url)
    verifier = _key_text(key) if key else None
    if verifier is None and (settings.key_dir / "ledger.verifier").exists():
        verifier = (settings.key_dir / "ledger.verifier").read_text().strip()
    try:
        if not sa.inspect(engine).has_table("ledger_entries"):
            typer.echo(f"FAIL: no ledger in {engine.url.render_as_string()}", err=True)
            raise typer.Exit(2)
        report = audit(engine, verifier_key=verifier)
        anchors = _check_anchors(engine, verifier, settings)
    except LedgerError as exc:
        typer.echo(f"FAIL: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        # A dropped table or column is damage too: say so, without a driver traceback. The
        # audit reads through driver cursors, so driver errors arrive unwrapped.
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.echo(f"FAIL: the ledger tables cannot be read: {first}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"OK: {report.size} entries, root {report.root.hex()}, {report.nodes_checked} tree "
        f"nodes and {report.checkpoints_checked} checkpoints checked"
        + (", signatures verified" if report.signatures_verified else ", signatures NOT checked")
        + f"; {anchors}"
    )


def _check_anchors(engine: object, verifier: str | None, settings: Settings) -> str:
    """Each anchored checkpoint must be signed and match the log; on chain too when reachable."""
    from ledger.anchoring import list_anchors, verify_anchors
    from ledger.checkpoint import parse_checkpoint, verify_checkpoint
    from ledger.errors import TamperedCheckpointError
    from ledger.log import Ledger

    ledger = Ledger(engine, create_tables=False)  # type: ignore[arg-type]
    records = list_anchors(ledger)
    for n, a in enumerate(records):
        cp = (
            verify_checkpoint(a["checkpoint"], verifier)
            if verifier
            else parse_checkpoint(a["checkpoint"])
        )
        if ledger.root(cp.size) != cp.root:
            raise TamperedCheckpointError(n, cp.size, "anchored root differs from the log")
    if not records:
        return "no anchors recorded"
    if settings.anchor_backend != "rpc":
        # The embedded chain lives in the serving process's memory; only a real node persists.
        return f"{len(records)} anchors match the log (on-chain check needs the rpc backend)"
    from api.services import _make_anchor

    verify_anchors(ledger=ledger, anchor=_make_anchor(settings))
    return f"{len(records)} anchors match the log and verify on chain"


@app.command()
def anchor() -> None:
    """Anchor the current checkpoint on the configured chain now."""
    from api.services import build_services
    from ledger.anchoring import anchor_now

    services = build_services(Settings())
    try:
        record = anchor_now(
            ledger=services.ledger, signer=services.signer, anchor=services.anchor()
        )
    finally:
        services.close()
    if record is None:
        typer.echo("nothing new since the last anchor")
        return
    r = record["receipt"]
    typer.echo(
        f"anchored size {r['size']} root {r['root_hex']} on chain {r['chain_id']}: "
        f"tx {r['tx_hash']} block {r['block_number']} (ledger entry {record['ledger_index']})"
    )


@app.command("verify-proof")
def verify_proof(
    bundle: Annotated[Path, typer.Argument(help="A proof bundle (GET /v1/ledger/entries/N).")],
    key: Annotated[str, typer.Option(help="The log's verifier key, as text or a file.")],
) -> None:
    """Check one entry offline: signature, leaf hash and inclusion proof. No database needed."""
    from ledger.bundle import verify_bundle
    from ledger.errors import LedgerError

    try:
        verified = verify_bundle(json.loads(bundle.read_text()), _key_text(key))
    except (LedgerError, json.JSONDecodeError, OSError) as exc:
        typer.echo(f"FAIL: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"OK: entry {verified.index} ({verified.kind}) is in {verified.origin} at tree size "
        f"{verified.tree_size}; leaf {verified.leaf_hash}"
    )


@app.command()
def checkpoint() -> None:
    """Print the current signed checkpoint, signing a new one if the log has grown."""
    from api.services import build_services
    from ledger.service import current_checkpoint

    services = build_services(Settings())
    try:
        typer.echo(current_checkpoint(ledger=services.ledger, signer=services.signer), nl=False)
    finally:
        services.close()
