"""The whole schema in one place: every module that defines tables, and the start-up check.

Tables are defined where they are used (the ledger's in ``ledger.schema``, the claims' in
``claims.tables``, ...) on one shared MetaData (``storage.schema``). A table exists in the
MetaData once its module is imported, so ``load_tables`` imports them all; the migrations
must create exactly these (tests/test_migrations.py checks it, and that no other module
defines one).
"""

from __future__ import annotations

import importlib

from sqlalchemy import Engine, MetaData

from storage.migrate import SchemaState, ensure_schema
from storage.schema import metadata

__all__ = ["BACKFILL_MODULES", "TABLE_MODULES", "load_tables", "prepare_database"]

TABLE_MODULES = (
    "ledger.schema",
    "supplychain.projections",
    "supplychain.held",
    "claims.tables",
    "claims.compensation",
    "notifications.outbox",
    "serving.releases",
    "stations.batches",
    "stations.jobs",
    "api.auth.keys",
    "api.web.session",
)
"""Every module that defines a table; a new one goes here and into a migration."""


BACKFILL_MODULES = ("claims.lot_keys", "claims.queue_index", "supplychain.query.index")
"""Modules registering a backfill a migration runs (``storage.backfills``)."""


def load_tables() -> MetaData:
    """The shared MetaData with every table of the service defined on it (and the backfills
    the migrations run registered)."""
    for name in (*TABLE_MODULES, *BACKFILL_MODULES):
        importlib.import_module(name)
    return metadata


def prepare_database(engine: Engine, *, auto_upgrade: bool) -> SchemaState:
    """Start-up: the database at the code's revision, or ``storage.errors.SchemaError``.

    ``auto_upgrade`` (``FRESHPROOF_DB_AUTO_UPGRADE``) lets start-up create an empty
    database's tables, adopt one made before migrations and upgrade an older one; off,
    each of those is refused and ``freshproof db upgrade`` does it. A database a newer
    release migrated is always refused.
    """
    return ensure_schema(engine, metadata=load_tables(), auto_upgrade=auto_upgrade)
