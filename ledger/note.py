"""C2SP signed notes with Ed25519 keys, in the text forms of golang.org/x/mod/sumdb/note.

A note is its text (ending in a newline), a blank line, then one line per signature:
``— <key name> <base64(4-byte key hash || 64-byte signature)>``. The key hash is the
first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import CheckpointFormatError, SignatureError

__all__ = [
    "ALG_ED25519",
    "NoteSignature",
    "Signer",
    "Verifier",
    "generate_key",
    "open_note",
    "sign_note",
    "split_note",
]

ALG_ED25519 = 0x01
"""Signed-note algorithm byte for Ed25519."""

_SIG_PREFIX = "\u2014 "  # EM DASH + space, as the spec requires
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_MAX_SIGNATURES = 100  # same bound as the Go implementation, so a note cannot be a DoS


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _key_hash(name: str, alg_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + alg_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointFormatError(f"{what} is not valid base64") from None


def _parse_key(text: str, what: str) -> tuple[str, int, bytes]:
    name, _, rest = text.partition("+")
    hash_hex, _, key64 = rest.partition("+")
    if not _valid_name(name) or len(hash_hex) != 8 or not key64:
        raise CheckpointFormatError(f"{what} is not <name>+<hash>+<key>")
    try:
        key_hash = int(hash_hex, 16)
    except ValueError:
        raise CheckpointFormatError(f"{what} hash is not hex") from None
    key = _b64decode(key64, what)
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise CheckpointFormatError(f"{what} is not an Ed25519 key")
    return name, key_hash, key[1:]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    key_hash: int
    public_key: bytes

    @classmethod
    def from_string(cls, text: str) -> Verifier:
        """Parse "<name>+<hash>+<base64(0x01||pubkey)>"; the hash must match the key."""
        name, key_hash, public_key = _parse_key(text, "verifier key")
        if key_hash != _key_hash(name, bytes([ALG_ED25519]) + public_key):
            raise CheckpointFormatError("verifier key hash does not match its key")
        return cls(name=name, key_hash=key_hash, public_key=public_key)

    def to_string(self) -> str:
        """Render the verifier key in its text form."""
        key64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash:08x}+{key64}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Signer:
    """A named Ed25519 private key that signs notes."""

    name: str
    key_hash: int
    seed: bytes

    @classmethod
    def from_string(cls, text: str) -> Signer:
        """Parse "PRIVATE+KEY+<name>+<hash>+<base64(0x01||seed)>"."""
        if not text.startswith(_PRIVATE_PREFIX):
            raise CheckpointFormatError("signer key does not start with PRIVATE+KEY+")
        name, key_hash, seed = _parse_key(text[len(_PRIVATE_PREFIX) :], "signer key")
        signer = cls(name=name, key_hash=key_hash, seed=seed)
        if key_hash != signer.verifier().key_hash:
            raise CheckpointFormatError("signer key hash does not match its key")
        return signer

    def to_string(self) -> str:
        """Render the signer key in its text form."""
        key64 = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_hash:08x}+{key64}"

    def verifier(self) -> Verifier:
        """Return the matching verifier."""
        public_key = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        key_hash = _key_hash(self.name, bytes([ALG_ED25519]) + public_key)
        return Verifier(name=self.name, key_hash=key_hash, public_key=public_key)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `message`."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def generate_key(name: str) -> tuple[str, str]:
    """Create a fresh Ed25519 key; return (signer key string, verifier key string)."""
    if not _valid_name(name):
        raise CheckpointFormatError(f"key name {name!r} is empty or has '+' or whitespace")
    seed = secrets.token_bytes(32)
    probe = Signer(name=name, key_hash=0, seed=seed)
    verifier = probe.verifier()
    signer = Signer(name=name, key_hash=verifier.key_hash, seed=seed)
    return signer.to_string(), verifier.to_string()


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_hash: int
    signature: bytes


def sign_note(text: str, signer: Signer | str) -> str:
    """Return the signed note for `text`, which must end in a newline."""
    key = Signer.from_string(signer) if isinstance(signer, str) else signer
    if not text.endswith("\n"):
        raise CheckpointFormatError("note text must end with a newline")
    blob = key.key_hash.to_bytes(4, "big") + key.sign(text.encode())
    return f"{text}\n{_SIG_PREFIX}{key.name} {base64.b64encode(blob).decode()}\n"


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a note into its text and its signature lines, without verifying them."""
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointFormatError("note has no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block.endswith("\n"):
        raise CheckpointFormatError("note must end with a signature line and a newline")
    signatures: list[NoteSignature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointFormatError("signature line does not start with an em dash")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not _valid_name(name) or not b64:
            raise CheckpointFormatError("signature line is not '— <name> <base64>'")
        blob = _b64decode(b64, "signature")
        if len(blob) < 5:
            raise CheckpointFormatError("signature is too short")
        signatures.append(
            NoteSignature(name=name, key_hash=int.from_bytes(blob[:4], "big"), signature=blob[4:])
        )
        if len(signatures) > _MAX_SIGNATURES:
            raise CheckpointFormatError(f"note has more than {_MAX_SIGNATURES} signatures")
    return text, signatures


def open_note(note: str, verifier: Verifier | str) -> str:
    """Return the note's text if it carries a valid signature by `verifier`, else raise."""
    key = Verifier.from_string(verifier) if isinstance(verifier, str) else verifier
    text, signatures = split_note(note)
    mine = [s for s in signatures if s.name == key.name and s.key_hash == key.key_hash]
    if not mine:
        raise SignatureError(key.name, "note has no signature by this key")
    # Any bad signature claiming to be ours is an attack or corruption, never ignorable.
    if not all(key.verify(text.encode(), s.signature) for s in mine):
        raise SignatureError(key.name, "signature does not verify")
    return text
