"""``freshproof keys ...``: issue, list and revoke API keys from the server's own shell.

Whoever can run this on the server already holds the database, so it needs no key; its
actions are recorded in the ledger as ``cli:<os user>``. This shell is the root of trust:
``create`` issues any key at once, the first admin included, where the API makes an
adjudicator or admin key wait for a second admin (``api.auth.keys``). ``revoke`` may
revoke the last active admin key, which the API refuses: a leaked sole admin key must be
stoppable at once; ``create --role admin`` (or the next start) makes a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from api.auth.keys import (
    KEY_PREFIX,
    InvalidKeySpecError,
    KeyRecord,
    KeyStore,
    UnknownKeyError,
)
from api.cli_support import cli_actor
from api.settings import Settings

app = typer.Typer(help="API keys: who may call the API, and as what.", no_args_is_help=True)


@contextmanager
def _store() -> Iterator[KeyStore]:
    """The key store on the configured database, writing its entries to the ledger."""
    from api.services import build_services

    services = build_services(Settings())
    try:
        yield KeyStore(services.engine, ledger=services.ledger)
    finally:
        services.close()


@app.command()
def create(
    role: Annotated[
        str,
        typer.Option(
            help="customer_app, supply_chain, station, adjudicator, ml_engineer, auditor or admin."
        ),
    ],
    name: Annotated[str, typer.Option(help="What people will recognise the key by.")],
    customer: Annotated[
        str | None, typer.Option(help="customer_app: the customer it acts for.")
    ] = None,
    party: Annotated[
        list[str] | None,
        typer.Option(help="supply_chain: a party id it speaks for (repeatable)."),
    ] = None,
    station: Annotated[str | None, typer.Option(help="station: the station's id.")] = None,
    read_point: Annotated[
        str | None, typer.Option(help="station: its read point (urn:epc:id:sgln:...).")
    ] = None,
    expires_days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Days until the key stops working; default never."),
    ] = None,
    approval_limit: Annotated[
        str | None,
        typer.Option(
            help="adjudicator: the most it approves as the second person when another "
            "adjudicator proposes compensation above the policy's limit (four eyes), e.g. "
            "5000.00. Granted only here, never through the API."
        ),
    ] = None,
) -> None:
    """Issue a key and print it on stdout, this once; it is never stored or shown again."""
    try:
        with _store() as store:
            token, record = store.create(
                role=role,
                name=name,
                created_by=cli_actor(),
                customer_id=customer,
                parties=tuple(party or ()),
                station_id=station,
                read_point=read_point,
                expires_in=timedelta(days=expires_days) if expires_days is not None else None,
                approval_limit=approval_limit,
            )
    except InvalidKeySpecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)
    typer.echo(
        f"created {KEY_PREFIX}{record.key_id} ({record.role}); store the key now: "
        "it will not be shown again",
        err=True,
    )


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """Every key, newest first, with its state; never a secret."""
    with _store() as store:
        records = store.list()
    now = datetime.now(UTC)
    if not records and not as_json:
        typer.echo("no API keys yet", err=True)
    if as_json:
        typer.echo(json.dumps([r.as_dict() | {"state": r.state(now)} for r in records], indent=2))
        return
    for r in records:
        typer.echo(_line(r, now))


def _line(r: KeyRecord, now: datetime) -> str:
    bound = " ".join(
        f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in r.bindings().items()
    )
    expires = f" expires {r.expires_at:%Y-%m-%d %H:%M}Z" if r.expires_at else ""
    if r.approval_limit is not None:
        expires += f"  approves up to {r.approval_limit}"
    return (
        f"{KEY_PREFIX}{r.key_id}  {r.role:<12}  {r.state(now):<7}  {r.name!r}"
        f"{'  ' + bound if bound else ''}  created {r.created_at:%Y-%m-%d %H:%M}Z "
        f"by {r.created_by}{expires}"
    )


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (3f9a2c1d or fpk_3f9a2c1d).")],
) -> None:
    """Revoke a key at once; revoking it again changes nothing."""
    try:
        with _store() as store:
            already = store.get(key_id).revoked_at is not None
            record = store.revoke(key_id, by=cli_actor())
            admin_left = _any_active_admin(store)
    except UnknownKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    when = f"{record.revoked_at:%Y-%m-%d %H:%M:%S}Z by {record.revoked_by}"
    state = "was already revoked" if already else "revoked"
    typer.echo(f"{KEY_PREFIX}{record.key_id} ({record.role}) {state} {when}")
    if record.role == "admin" and not already and not admin_left:
        typer.echo(
            "no active admin key is left: `freshproof keys create --role admin` makes one",
            err=True,
        )


def _any_active_admin(store: KeyStore) -> bool:
    now = store.now()
    return any(r.role == "admin" and r.state(now) == "active" for r in store.list())


@app.command("requests")
def list_requests(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """Key requests waiting for (or answered by) a second admin, newest first."""
    with _store() as store:
        items = store.requests()
        now = store.now()
    if as_json:
        typer.echo(json.dumps([r.as_dict(now) for r in items], indent=2))
        return
    if not items:
        typer.echo("no key requests", err=True)
    for r in items:
        answered = f"  {r.answer} by {r.answered_by}" if r.answered_by else ""
        typer.echo(
            f"{r.request_id}  {r.role:<12}  {r.state(now):<8}  {r.name!r}  requested "
            f"{r.requested_at:%Y-%m-%d %H:%M}Z by {r.requested_by}{answered}"
        )
