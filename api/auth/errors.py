"""Errors of the auth package.

Errors::

    AuthError
    ├── InvalidKeySpecError      a requested key's role, bindings, name or lifetime is refused
    ├── UnknownKeyError          no key has that id
    ├── KeyRejectedError         a presented token is malformed, unknown, expired or revoked
    ├── UnknownKeyRequestError   no key request has that id
    ├── KeyRequestClosedError    the request was answered already, or expired
    ├── SameAdminError           the admin who requested a key tried to approve it
    └── LastAdminError           revoking the key would leave no active admin
"""

from __future__ import annotations

from typing import Literal

from api.auth.principal import KEY_PREFIX

__all__ = [
    "AuthError",
    "InvalidKeySpecError",
    "KeyRejectedError",
    "KeyRequestClosedError",
    "LastAdminError",
    "RejectReason",
    "SameAdminError",
    "UnknownKeyError",
    "UnknownKeyRequestError",
]


class AuthError(Exception):
    """Root of every error the auth package raises."""


class InvalidKeySpecError(AuthError):
    """A requested key is not acceptable: ``field`` says which part, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"key {field}: {reason}")


class UnknownKeyError(AuthError):
    """No key has the id ``key_id``."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"no API key with id {key_id!r}")


class UnknownKeyRequestError(AuthError):
    """No key request has the id ``request_id``."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(f"no key request with id {request_id!r}")


class KeyRequestClosedError(AuthError):
    """The key request ``request_id`` is no longer pending: ``state`` says what it is."""

    def __init__(self, request_id: str, state: str) -> None:
        self.request_id, self.state = request_id, state
        self.reason = f"key request {request_id} is {state}; only a pending request is answered"
        super().__init__(self.reason)


class SameAdminError(AuthError):
    """The admin who requested a key tried to approve it (separation of duties)."""

    def __init__(self, request_id: str, actor: str) -> None:
        self.request_id, self.actor = request_id, actor
        self.reason = (
            f"separation of duties: key request {request_id} was made by {actor}; a key that "
            "may decide or approve claims, or manage keys, is issued only when a different "
            "admin approves it"
        )
        super().__init__(self.reason)


class LastAdminError(AuthError):
    """Revoking ``key_id`` would leave no active admin key."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.reason = (
            f"{KEY_PREFIX}{key_id} is the last active admin key: an installation always keeps "
            "one admin; issue another admin key first, then revoke this one"
        )
        super().__init__(self.reason)


RejectReason = Literal["malformed", "unknown", "expired", "revoked"]
"""Why a presented token was refused."""


class KeyRejectedError(AuthError):
    """A presented token does not authenticate; ``key_id`` is set once one was parsed."""

    def __init__(self, reason: RejectReason, key_id: str | None = None) -> None:
        self.reason = reason
        self.key_id = key_id
        named = f" {KEY_PREFIX}{key_id}" if key_id else ""
        super().__init__(f"API key{named} rejected: {reason}")
