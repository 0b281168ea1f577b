"""EthereumAnchor against the embedded default: the contract deployed into eth-tester/py-evm."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import pytest
from eth_account import Account
from eth_typing import HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.types import Wei

from ledger.anchor import (
    Anchor,
    AnchorConfigError,
    AnchorError,
    AnchorInputError,
    AnchorMismatchError,
    AnchorNotFoundError,
    AnchorReceipt,
    AnchorRejectedError,
    EthereumAnchor,
    NoAnchor,
)
from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError
from ledger.hashing import leaf_hash, root_from_leaves

ROOT = root_from_leaves([leaf_hash(b"lot-1"), leaf_hash(b"lot-2"), leaf_hash(b"lot-3")])
OTHER_ROOT = hashlib.sha256(b"another tree").digest()
# Init code of a contract whose runtime code just returns 42: "some other contract".
RETURNS_42 = HexStr("0x600a600c600039600a6000f3602a60005260206000f3")

_origins = count()


@pytest.fixture(scope="module")
def chain() -> EthereumAnchor:
    """One in-process chain with the contract deployed, shared by this module's tests."""
    return EthereumAnchor.in_process()


@pytest.fixture
def origin() -> str:
    """A fresh log origin per test, so sizes anchored by one test never constrain another."""
    return f"test.freshproof.local/log-{next(_origins)}"


@pytest.fixture
def anchored(chain: EthereumAnchor, origin: str) -> AnchorReceipt:
    """A receipt for (origin, 3, ROOT) anchored on the shared chain."""
    return chain.anchor(origin=origin, size=3, root=ROOT)


def _deploy_raw(chain: EthereumAnchor, init_code: HexStr) -> str:
    w3 = chain.web3
    tx = w3.eth.send_transaction({"from": list(w3.eth.accounts)[1], "data": init_code})
    return str(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestAnchorAndVerify:
    def test_round_trip(self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str) -> None:
        # verify returns (None) for exactly the anchored checkpoint, and the same receipt
        # held against another size raises: the pass above is a real check, not a no-op.
        assert chain.verify(anchored, origin=origin, size=3, root=ROOT) is None
        with pytest.raises(AnchorMismatchError):
            chain.verify(anchored, origin=origin, size=4, root=ROOT)

    def test_receipt_records_where_it_landed(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        w3 = chain.web3
        mined = w3.eth.get_transaction_receipt(HexBytes(anchored.tx_hash))
        block = w3.eth.get_block(mined["blockNumber"])

        assert anchored.chain_id == w3.eth.chain_id == chain.chain_id
        assert anchored.contract_address == chain.contract_address == mined["to"]
        assert w3.eth.get_code(Web3.to_checksum_address(anchored.contract_address))
        assert anchored.tx_hash == mined["transactionHash"].to_0x_hex()
        assert anchored.block_number == mined["blockNumber"] > 0
        assert anchored.anchored_at == datetime.fromtimestamp(block["timestamp"], UTC)
        assert (anchored.origin, anchored.size, anchored.root_hex) == (origin, 3, ROOT.hex())
        assert anchored.anchored
        assert anchored.checkpoint == Checkpoint(origin=origin, size=3, root=ROOT)

    def test_receipt_survives_json(self, chain: EthereumAnchor, anchored: AnchorReceipt) -> None:
        restored = AnchorReceipt.from_dict(json.loads(json.dumps(anchored.to_dict())))
        assert restored == anchored
        chain.verify(restored, origin=anchored.origin, size=3, root=ROOT)

    def test_verify_only_anchor_attached_by_address(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        auditor = EthereumAnchor(chain.web3, account=None, contract_address=chain.contract_address)
        auditor.verify(anchored, origin=origin, size=3, root=ROOT)
        assert auditor.sender is None
        with pytest.raises(AnchorConfigError, match="can only verify"):
            auditor.anchor(origin=origin, size=4, root=ROOT)

    def test_implements_the_protocol(self, chain: EthereumAnchor) -> None:
        assert isinstance(chain, Anchor)
        assert isinstance(NoAnchor(), Anchor)


class TestTampering:
    @pytest.mark.parametrize(
        ("field", "change"),
        [
            ("root", {"root": OTHER_ROOT}),
            ("size", {"size": 4}),
            ("origin", {"origin": "test.freshproof.local/elsewhere"}),
        ],
    )
    def test_other_checkpoint_is_rejected(
        self,
        chain: EthereumAnchor,
        anchored: AnchorReceipt,
        origin: str,
        field: str,
        change: dict[str, object],
    ) -> None:
        claimed: dict[str, object] = {"origin": origin, "size": 3, "root": ROOT, **change}
        with pytest.raises(AnchorMismatchError) as caught:
            chain.verify(anchored, **claimed)  # type: ignore[arg-type]
        assert caught.value.found == Checkpoint(origin=origin, size=3, root=ROOT)
        assert getattr(caught.value.expected, field) == change[field]

    def test_receipt_recording_another_root_is_rejected(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        # The chain agrees with the caller, but the stored receipt was edited.
        edited = replace(anchored, root_hex=OTHER_ROOT.hex())
        with pytest.raises(AnchorMismatchError) as caught:
            chain.verify(edited, origin=origin, size=3, root=ROOT)
        assert caught.value.found.root == OTHER_ROOT

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"tx_hash": "0x" + "ab" * 32}, "no such transaction"),
            ({"tx_hash": "not-a-hash"}, "not a transaction hash"),
            ({"chain_id": 1}, "chain 1"),
            ({"contract_address": "0x" + "11" * 20}, "receipt names contract"),
            ({"block_number": 999}, "receipt says 999"),
        ],
    )
    def test_receipt_pointing_elsewhere_is_not_found(
        self,
        chain: EthereumAnchor,
        anchored: AnchorReceipt,
        origin: str,
        change: dict[str, object],
        reason: str,
    ) -> None:
        with pytest.raises(AnchorNotFoundError, match=reason):
            chain.verify(replace(anchored, **change), origin=origin, size=3, root=ROOT)  # type: ignore[arg-type]

    def test_transaction_without_anchor_event_is_not_found(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        w3 = chain.web3
        transfer = w3.eth.send_transaction(
            {"from": list(w3.eth.accounts)[1], "to": list(w3.eth.accounts)[2], "value": Wei(1)}
        )
        block = w3.eth.wait_for_transaction_receipt(transfer)["blockNumber"]
        forged = replace(anchored, tx_hash=transfer.to_0x_hex(), block_number=block)
        with pytest.raises(AnchorNotFoundError, match="no Anchored event") as caught:
            chain.verify(forged, origin=origin, size=3, root=ROOT)
        assert caught.value.tx_hash == transfer.to_0x_hex()

    def test_event_from_another_deployment_does_not_count(
        self, chain: EthereumAnchor, origin: str
    ) -> None:
        # eth-tester's default accounts hold the private keys 1, 2, 3, ...
        second = Account.from_key((2).to_bytes(32, "big"))
        assert second.address == list(chain.web3.eth.accounts)[1]
        rival = EthereumAnchor(chain.web3, account=second)  # deploys a second contract
        assert rival.contract_address != chain.contract_address
        elsewhere = rival.anchor(origin=origin, size=3, root=ROOT)
        rival.verify(elsewhere, origin=origin, size=3, root=ROOT)
        forged = replace(elsewhere, contract_address=chain.contract_address)
        with pytest.raises(AnchorNotFoundError, match="no Anchored event"):
            chain.verify(forged, origin=origin, size=3, root=ROOT)


class TestAnchorsOnlyMoveForward:
    def test_smaller_size_reverts_with_typed_error(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        with pytest.raises(AnchorRejectedError) as caught:
            chain.anchor(origin=origin, size=2, root=OTHER_ROOT)
        assert (caught.value.origin, caught.value.size, caught.value.latest_size) == (origin, 2, 3)
        assert isinstance(caught.value, AnchorError)
        assert isinstance(caught.value, LedgerError)
        assert chain.latest_size(origin) == 3

    def test_same_or_larger_size_is_accepted(
        self, chain: EthereumAnchor, anchored: AnchorReceipt, origin: str
    ) -> None:
        again = chain.anchor(origin=origin, size=3, root=ROOT)
        grown = chain.anchor(origin=origin, size=10, root=OTHER_ROOT)
        assert grown.block_number > again.block_number > anchored.block_number
        chain.verify(grown, origin=origin, size=10, root=OTHER_ROOT)
        assert chain.latest_size(origin) == 10

    def test_origins_are_independent(self, chain: EthereumAnchor, origin: str) -> None:
        chain.anchor(origin=origin, size=100, root=ROOT)
        chain.anchor(origin=origin + "/other", size=1, root=ROOT)
        assert chain.latest_size(origin) == 100
        assert chain.latest_size(origin + "/other") == 1
        assert chain.latest_size(origin + "/never") == 0


class TestInputAndConfiguration:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"root": ROOT[:31]}, "root"),
            ({"size": -1}, "size"),
            ({"size": 2**64}, "size"),
            ({"origin": ""}, "origin"),
            ({"origin": "two\nlines"}, "origin"),
        ],
    )
    def test_bad_input_is_refused_before_sending(
        self, chain: EthereumAnchor, origin: str, change: dict[str, object], field: str
    ) -> None:
        before = chain.web3.eth.block_number
        args: dict[str, object] = {"origin": origin, "size": 1, "root": ROOT, **change}
        with pytest.raises(AnchorInputError) as caught:
            chain.anchor(**args)  # type: ignore[arg-type]
        assert caught.value.field == field
        assert chain.web3.eth.block_number == before

    def test_attaching_to_an_address_without_code_fails(self, chain: EthereumAnchor) -> None:
        with pytest.raises(AnchorConfigError, match="no contract"):
            EthereumAnchor(chain.web3, account=None, contract_address="0x" + "22" * 20)

    def test_attaching_to_another_contract_fails(self, chain: EthereumAnchor) -> None:
        other = _deploy_raw(chain, RETURNS_42)
        with pytest.raises(AnchorConfigError, match="is not CheckpointAnchor"):
            EthereumAnchor(chain.web3, account=None, contract_address=other)

    def test_verify_only_without_address_cannot_deploy(self, chain: EthereumAnchor) -> None:
        with pytest.raises(AnchorConfigError, match="no private key"):
            EthereumAnchor(chain.web3, account=None)

    def test_unreachable_node_is_a_config_error(self) -> None:
        url = f"http://127.0.0.1:{_closed_port()}"
        with pytest.raises(AnchorConfigError, match="cannot reach"):
            EthereumAnchor.from_rpc(url, None, "0x" + "22" * 20, timeout=2)

    def test_bad_private_key_is_not_echoed(self) -> None:
        with pytest.raises(AnchorConfigError) as caught:
            EthereumAnchor.from_rpc("http://127.0.0.1:1", "0xdeadbeef")
        assert "deadbeef" not in str(caught.value)


class TestNoAnchor:
    def test_records_nothing_and_says_so(self) -> None:
        fixed = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        receipt = NoAnchor(clock=lambda: fixed).anchor(origin="o", size=1, root=ROOT)
        assert not receipt.anchored
        assert (receipt.chain_id, receipt.contract_address, receipt.tx_hash) == (0, "", "")
        assert (receipt.origin, receipt.size, receipt.root_hex) == ("o", 1, ROOT.hex())
        assert receipt.anchored_at == fixed

    def test_verify_refuses_because_nothing_was_anchored(self) -> None:
        none = NoAnchor()
        receipt = none.anchor(origin="o", size=1, root=ROOT)
        with pytest.raises(AnchorNotFoundError, match="anchoring is disabled"):
            none.verify(receipt, origin="o", size=1, root=ROOT)

    def test_still_validates_input(self) -> None:
        with pytest.raises(AnchorInputError):
            NoAnchor().anchor(origin="o", size=1, root=b"short")


def test_import_keeps_the_interpreters_recursion_limit() -> None:
    # py_ecc / py-evm raise it to 100 000 on import, which turns deep nesting into a segfault.
    code = (
        "import sys; sys.setrecursionlimit(1234); import ledger.anchor; "
        "from ledger.anchor import EthereumAnchor; EthereumAnchor.in_process(); "
        "print(sys.getrecursionlimit())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "1234"


def test_an_anchor_is_dated_no_earlier_than_the_request_that_made_it(origin: str) -> None:
    # eth-tester dates a block by when the block before it was mined (for an idle chain,
    # long ago): the receipt must say when this anchor was made, not when the last one was.
    # A chain of its own: block times only increase, so many blocks a second (the other
    # tests') run the shared chain's clock ahead of the wall clock.
    chain = EthereumAnchor.in_process()
    for size in (1, 2):
        time.sleep(2.1)  # the chain idles between anchors, as it does between requests
        asked = datetime.now(UTC)
        receipt = chain.anchor(origin=origin, size=size, root=ROOT)
        assert receipt.anchored_at >= asked, (receipt.anchored_at, asked)
        assert (receipt.anchored_at - asked).total_seconds() <= 2
