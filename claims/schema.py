"""The MetaData every claims table (claims, payments, outbox) is defined on."""

from __future__ import annotations

from sqlalchemy import MetaData

__all__ = ["claims_metadata"]

claims_metadata = MetaData()
