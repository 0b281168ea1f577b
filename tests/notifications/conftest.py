"""The claims' database fixtures: the outbox lives in the same database as the claims."""

from tests.claims.conftest import claims_db, sqlite_claims_db

__all__ = ["claims_db", "sqlite_claims_db"]
