"""The MetaData every claims table (claims, payments, outbox) is defined on: the shared one."""

from __future__ import annotations

from storage.schema import metadata

__all__ = ["claims_metadata"]

claims_metadata = metadata
"""``storage.schema.metadata`` under the name the claims modules import."""
