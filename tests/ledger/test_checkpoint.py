"""C2SP signed notes and tlog checkpoints, and the Ledger's refusal to sign a fork."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from ledger import (
    Checkpoint,
    CheckpointFormatError,
    InconsistentCheckpointError,
    Ledger,
    SignatureError,
    Signer,
    Verifier,
    generate_key,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from ledger.note import open_note, sign_note

Items = list[tuple[str, dict[str, Any]]]

# golang.org/x/mod/sumdb/note's documented example: Ed25519 is deterministic, so the
# same key and text must give this note byte for byte.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ROOT = bytes(range(32))
CHECKPOINT = Checkpoint(origin="example.com/behind-the-sofa", size=20852163, root=ROOT)


def test_signing_matches_the_go_reference_note() -> None:
    assert sign_note(GO_TEXT, GO_SIGNER) == GO_NOTE
    assert open_note(GO_NOTE, GO_VERIFIER) == GO_TEXT
    assert Signer.from_string(GO_SIGNER).verifier().to_string() == GO_VERIFIER


def test_generated_keys_use_the_go_text_forms() -> None:
    signer, verifier = generate_key("log.example/ledger")
    name, key_hash, key64 = verifier.split("+", 2)
    assert (name, len(key_hash)) == ("log.example/ledger", 8)
    assert base64.b64decode(key64)[0] == 0x01 and len(base64.b64decode(key64)) == 33
    assert signer.startswith(f"PRIVATE+KEY+log.example/ledger+{key_hash}+")
    assert Signer.from_string(signer).verifier() == Verifier.from_string(verifier)
    assert Signer.from_string(signer).to_string() == signer


@pytest.mark.parametrize("name", ["", "a+b", "a b", "tab\there"])
def test_key_names_must_be_valid(name: str) -> None:
    with pytest.raises(CheckpointFormatError):
        generate_key(name)


def test_checkpoint_body_and_round_trip(keys: tuple[str, str]) -> None:
    note = sign_checkpoint(CHECKPOINT, keys[0])
    body = f"example.com/behind-the-sofa\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert note.startswith(body + "\n\u2014 test.freshproof.local/ledger ")
    assert note.endswith("\n")
    assert verify_checkpoint(note, keys[1]) == CHECKPOINT
    assert parse_checkpoint(note) == CHECKPOINT


def test_extension_lines_survive_the_round_trip(keys: tuple[str, str]) -> None:
    checkpoint = Checkpoint(origin="o", size=0, root=ROOT, extensions=("ext one", "ext two"))
    assert verify_checkpoint(sign_checkpoint(checkpoint, keys[0]), keys[1]) == checkpoint


def test_tampered_checkpoint_fails_signature(keys: tuple[str, str]) -> None:
    note = sign_checkpoint(CHECKPOINT, keys[0])
    forged = note.replace("\n20852163\n", "\n20852164\n")
    assert parse_checkpoint(forged).size == 20852164  # parsing alone proves nothing
    with pytest.raises(SignatureError):
        verify_checkpoint(forged, keys[1])


def test_signature_by_another_key_is_rejected(keys: tuple[str, str]) -> None:
    other_signer, other_verifier = generate_key("test.freshproof.local/ledger")
    note = sign_checkpoint(CHECKPOINT, other_signer)
    with pytest.raises(SignatureError, match="no signature by this key"):
        verify_checkpoint(note, keys[1])
    assert verify_checkpoint(note, other_verifier) == CHECKPOINT


def test_corrupted_signature_bytes_are_rejected(keys: tuple[str, str]) -> None:
    note = sign_checkpoint(CHECKPOINT, keys[0])
    text, sig_line = note.rsplit("\n\n", 1)
    name_part, b64 = sig_line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(b64))
    blob[10] ^= 0x01
    bad = f"{text}\n\n{name_part} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(bad, keys[1])


def test_unknown_cosignatures_are_ignored(keys: tuple[str, str]) -> None:
    note = sign_checkpoint(CHECKPOINT, keys[0])
    witness = sign_note(CHECKPOINT.body(), generate_key("witness.example")[0])
    cosigned = note + witness.rsplit("\n\n", 1)[1]
    assert verify_checkpoint(cosigned, keys[1]) == CHECKPOINT


@pytest.mark.parametrize(
    "note",
    [
        "o\n1\nAAAA\n- name AAAAAAAA\n",  # no blank line
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n- name AAAAAAAAAA==\n",  # hyphen
        "o\n01\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 n AAAAAAAAAA==\n",  # size
        "o\n1\nAAAA\n\n\u2014 n AAAAAAAAAA==\n",  # root is 3 bytes
        "o\n1\n\n\u2014 n AAAAAAAAAA==\n",  # missing root line
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 n AAAA\n",  # sig too short
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 n AAAAAAAAAA==",  # no \n
    ],
    ids=["no-blank", "hyphen", "leading-zero", "short-root", "no-root", "short-sig", "no-eol"],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(note)


@pytest.mark.parametrize(
    "key",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # hash
        "PeterNeumann+c74f20a3+AhpjkhcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # alg
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # length
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(key: str) -> None:
    with pytest.raises(CheckpointFormatError):
        Verifier.from_string(key)


def test_signer_key_hash_must_match_its_key() -> None:
    with pytest.raises(CheckpointFormatError):
        Signer.from_string(GO_SIGNER.replace("c74f20a3", "c74f20a4"))


# --- the Ledger's signing -----------------------------------------------------------


def test_ledger_signs_consistent_checkpoints(
    ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]
) -> None:
    empty = verify_checkpoint(ledger.sign_checkpoint(keys[0]), keys[1])
    assert (empty.origin, empty.size, empty.root) == (ledger.origin, 0, ledger.root())
    for start, n in [(0, 5), (5, 1), (6, 0), (6, 26)]:
        ledger.append_many(bodies(n, start=start))
        note = ledger.sign_checkpoint(keys[0])
        checkpoint = verify_checkpoint(note, keys[1])
        assert (checkpoint.size, checkpoint.root) == (ledger.size(), ledger.root())
        assert ledger.latest_checkpoint() == note
    with ledger.engine.connect() as conn:
        sizes = conn.execute(sa.text("SELECT size FROM ledger_checkpoints ORDER BY seq")).all()
    assert [row.size for row in sizes] == [0, 5, 6, 6, 32]


@pytest.mark.parametrize(
    ("first", "sql"),
    [
        # The subtree over leaves 0..3 is recomputed from their leaf hashes: rewrite one.
        (6, "UPDATE ledger_entries SET leaf_hash = :h WHERE idx = 1"),
        # The subtree over leaves 0..15 is a stored node.
        (20, "UPDATE ledger_nodes SET hash = :h WHERE level = 4 AND idx = 0"),
    ],
    ids=["leaf-hash", "node"],
)
def test_ledger_refuses_to_sign_a_rewritten_tree(
    ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items], first: int, sql: str
) -> None:
    ledger.append_many(bodies(first))
    ledger.sign_checkpoint(keys[0])
    # An attacker rewrites a hash that the consistency proof will use.
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), {"h": bytes(32)})
    ledger.append_many(bodies(3, start=first))
    with pytest.raises(InconsistentCheckpointError) as caught:
        ledger.sign_checkpoint(keys[0])
    assert (caught.value.previous_size, caught.value.size) == (first, first + 3)
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_checkpoints")).scalar() == 1


def test_ledger_refuses_when_the_tree_shrank(
    sqlite_ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]
) -> None:
    sqlite_ledger.append_many(bodies(4))
    sqlite_ledger.sign_checkpoint(keys[0])
    with sqlite_ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ledger_entries WHERE idx = 3"))
    with pytest.raises(InconsistentCheckpointError, match="shrank"):
        sqlite_ledger.sign_checkpoint(keys[0])


def test_ledger_refuses_a_checkpoint_for_another_origin(
    sqlite_ledger: Ledger, keys: tuple[str, str]
) -> None:
    sqlite_ledger.append(kind="k", body={})
    sqlite_ledger.sign_checkpoint(keys[0])
    other = Ledger(sqlite_ledger.engine, origin="someone.else/log")
    with pytest.raises(InconsistentCheckpointError, match="origin"):
        other.sign_checkpoint(keys[0])


def test_ledger_refuses_when_the_last_checkpoint_was_replaced(
    sqlite_ledger: Ledger, keys: tuple[str, str], bodies: Callable[..., Items]
) -> None:
    sqlite_ledger.append_many(bodies(5))
    sqlite_ledger.sign_checkpoint(keys[0])
    forged = sign_checkpoint(
        Checkpoint(origin=sqlite_ledger.origin, size=5, root=bytes(32)), keys[0]
    )
    with sqlite_ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_checkpoints SET note = :n"), {"n": forged})
    sqlite_ledger.append(kind="k", body={})
    with pytest.raises(InconsistentCheckpointError):
        sqlite_ledger.sign_checkpoint(keys[0])
