"""Anchoring into the CheckpointAnchor contract through web3.py: in-process EVM or JSON-RPC."""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

# py_ecc and py-evm (imported by eth-account / eth-tester) raise the interpreter-wide recursion
# limit to 100 000 on import. At that depth deeply nested input (e.g. JSON given to
# canonical_json) overflows the C stack and kills the process instead of raising
# RecursionError, so the limit is put back. py-evm only needs it for deeply nested contract
# calls, which CheckpointAnchor never makes.
_recursion_limit = sys.getrecursionlimit()
from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402
from eth_tester.exceptions import TransactionFailed  # noqa: E402
from eth_typing import ChecksumAddress  # noqa: E402
from hexbytes import HexBytes  # noqa: E402
from web3 import HTTPProvider, Web3  # noqa: E402
from web3.contract.contract import ContractConstructor, ContractFunction  # noqa: E402
from web3.exceptions import TransactionNotFound, Web3Exception  # noqa: E402
from web3.types import TxReceipt  # noqa: E402

sys.setrecursionlimit(_recursion_limit)
del _recursion_limit

from ledger.anchor.base import (  # noqa: E402
    AnchorReceipt,
    check_receipt_matches,
    validate_anchor_input,
)
from ledger.anchor.errors import (  # noqa: E402
    AnchorConfigError,
    AnchorMismatchError,
    AnchorNodeError,
    AnchorNotFoundError,
    AnchorRejectedError,
)
from ledger.checkpoint import Checkpoint  # noqa: E402

__all__ = ["ContractArtifact", "EthereumAnchor", "load_artifact"]

# What a node (or eth-tester standing in for one) raises for a failed call or transaction:
# a revert is eth-tester's TransactionFailed in-process but a web3 error over JSON-RPC, and an
# unreachable node is a requests ConnectionError, an OSError.
_NODE_ERRORS: tuple[type[Exception], ...] = (Web3Exception, TransactionFailed, OSError)
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """The committed solc output for CheckpointAnchor.sol (see tools/compile_contract.mjs)."""

    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str


@cache
def load_artifact() -> ContractArtifact:
    """Load the compiled CheckpointAnchor contract shipped beside its source."""
    path = resources.files("ledger.anchor").joinpath("contracts/CheckpointAnchor.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ContractArtifact(
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            compiler_version=data["compiler"]["version"],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnchorConfigError(f"contract artifact {path} is unreadable: {exc}") from exc


def _without_metadata(code: bytes) -> bytes:
    # solc appends CBOR metadata (source hash, compiler) whose length is the last two bytes;
    # dropping it lets a comment-only source edit still recognise an existing deployment.
    if len(code) < 2:
        return code
    tail = int.from_bytes(code[-2:], "big") + 2
    return code[:-tail] if tail <= len(code) else code


class EthereumAnchor:
    """Anchors checkpoints as `Anchored` events of a CheckpointAnchor contract via web3.py."""

    def __init__(
        self,
        web3: Web3,
        *,
        account: LocalAccount | None,
        contract_address: str | None = None,
        receipt_timeout: float = 120.0,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        self._w3 = web3
        self._account = account
        self._receipt_timeout = receipt_timeout
        self._before_send = before_send
        # One nonce sequence per sender: concurrent anchors must not pick the same nonce.
        self._lock = threading.Lock()
        artifact = load_artifact()
        try:
            self._chain_id = int(web3.eth.chain_id)
        except _NODE_ERRORS as exc:
            raise AnchorConfigError(f"cannot reach the Ethereum node: {exc}") from exc
        if contract_address is None:
            address = self._deploy(artifact)
        else:
            address = self._attach(contract_address, artifact)
        self._contract = web3.eth.contract(address=address, abi=artifact.abi)
        self._topic = HexBytes(self._contract.events.Anchored().topic)

    @classmethod
    def in_process(cls) -> EthereumAnchor:
        """A fresh in-memory EVM (eth-tester + py-evm) with the contract deployed; nothing kept."""
        # Imported here: only the embedded default needs the EVM, not a JSON-RPC deployment.
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider

        backend = PyEVMBackend()
        tester = EthereumTester(backend)
        web3 = Web3(EthereumTesterProvider(tester))
        account = Account.from_key(backend.account_keys[0].to_bytes())

        def date_the_next_block_now() -> None:
            # eth-tester dates the pending block when the block before it was mined, so an
            # anchor made after an idle spell was dated before the request that made it. A
            # real chain dates a block when it is produced; here it is moved to now (whole
            # seconds, rounded up, as block times are), which mines an empty block first.
            now = math.ceil(time.time())
            if now > int(tester.get_block_by_number("pending")["timestamp"]):
                tester.time_travel(now)

        return cls(web3, account=account, before_send=date_the_next_block_now)

    @classmethod
    def from_rpc(
        cls,
        url: str,
        private_key: str | bytes | None,
        contract_address: str | None = None,
        *,
        timeout: float = 30.0,
        receipt_timeout: float = 120.0,
    ) -> EthereumAnchor:
        """Use the node at `url`; deploys the contract when no address is given (persist it).

        Without a private key the anchor can only verify, which is what an auditor needs.
        """
        account: LocalAccount | None = None
        if private_key is not None:
            try:
                account = Account.from_key(private_key)
            except (ValueError, TypeError) as exc:
                # The message must not echo the key.
                raise AnchorConfigError("private key is not a valid secp256k1 key") from exc
        web3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
        return cls(
            web3,
            account=account,
            contract_address=contract_address,
            receipt_timeout=receipt_timeout,
        )

    @property
    def web3(self) -> Web3:
        """The web3 connection this anchor uses."""
        return self._w3

    @property
    def chain_id(self) -> int:
        """The EIP-155 chain id of the node."""
        return self._chain_id

    @property
    def contract_address(self) -> str:
        """The checksummed address of the CheckpointAnchor contract (persist it after a deploy)."""
        return str(self._contract.address)

    @property
    def sender(self) -> str | None:
        """The address that signs anchoring transactions, or None for a verify-only anchor."""
        return None if self._account is None else str(self._account.address)

    def latest_size(self, origin: str) -> int:
        """The largest tree size anchored so far for `origin` (0 when none)."""
        key = Web3.keccak(text=origin)
        try:
            return int(self._contract.functions.latestSize(key).call())
        except _NODE_ERRORS as exc:
            raise AnchorNodeError(f"reading latestSize({origin!r}) failed: {exc}") from exc

    def anchor(self, *, origin: str, size: int, root: bytes) -> AnchorReceipt:
        """Send `anchor(origin, size, root)` and return the mined transaction's receipt."""
        validate_anchor_input(origin=origin, size=size, root=root)
        call = self._contract.functions.anchor(origin, size, root)
        try:
            receipt = self._transact(call)
        except _NODE_ERRORS as exc:
            # A revert surfaces while estimating gas, differently per backend: ask the
            # contract whether it was the size check.
            self._raise_if_behind(origin, size)
            raise AnchorNodeError(f"anchor transaction failed: {exc}") from exc
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        if receipt["status"] != 1:
            self._raise_if_behind(origin, size)
            raise AnchorNodeError(f"anchor transaction {tx_hash} reverted")
        try:
            block = self._w3.eth.get_block(receipt["blockNumber"])
        except _NODE_ERRORS as exc:
            raise AnchorNodeError(f"reading block {receipt['blockNumber']} failed: {exc}") from exc
        return AnchorReceipt(
            chain_id=self._chain_id,
            contract_address=self.contract_address,
            tx_hash=tx_hash,
            block_number=int(receipt["blockNumber"]),
            origin=origin,
            size=size,
            root_hex=root.hex(),
            anchored_at=datetime.fromtimestamp(int(block["timestamp"]), UTC),
        )

    def verify(self, receipt: AnchorReceipt, *, origin: str, size: int, root: bytes) -> None:
        """Return if the chain shows `receipt`'s transaction anchoring exactly (origin, size, root).

        Raises `AnchorNotFoundError` when the transaction or event is not where the receipt
        points, and `AnchorMismatchError` when it anchored (or records) another checkpoint.
        """
        tx_hash = receipt.tx_hash
        # Step 1: the receipt points at this chain and this contract.
        if receipt.chain_id != self._chain_id:
            raise AnchorNotFoundError(
                tx_hash, f"receipt is for chain {receipt.chain_id}, node is on {self._chain_id}"
            )
        if (
            not Web3.is_address(receipt.contract_address)
            or Web3.to_checksum_address(receipt.contract_address) != self.contract_address
        ):
            raise AnchorNotFoundError(
                tx_hash,
                f"receipt names contract {receipt.contract_address!r}, "
                f"this anchor uses {self.contract_address}",
            )
        # Step 2: the transaction was mined, succeeded, and sits in the recorded block.
        if not _TX_HASH.fullmatch(tx_hash):
            raise AnchorNotFoundError(tx_hash, "not a transaction hash")
        try:
            mined = self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            raise AnchorNotFoundError(tx_hash, "no such transaction on this chain") from None
        except _NODE_ERRORS as exc:
            raise AnchorNodeError(f"reading transaction {tx_hash} failed: {exc}") from exc
        if mined["status"] != 1:
            raise AnchorNotFoundError(tx_hash, "the transaction reverted")
        if mined["blockNumber"] != receipt.block_number:
            raise AnchorNotFoundError(
                tx_hash,
                f"mined in block {mined['blockNumber']}, receipt says {receipt.block_number}",
            )
        # Step 3: this contract emitted an Anchored event in that transaction.
        anchored = self._anchored_checkpoints(mined)
        if not anchored:
            raise AnchorNotFoundError(tx_hash, "the transaction emitted no Anchored event")
        # Step 4: the chain anchored the expected checkpoint, and the receipt records it too.
        expected = Checkpoint(origin=origin, size=size, root=root)
        if expected not in anchored:
            raise AnchorMismatchError(expected=expected, found=anchored[0])
        check_receipt_matches(receipt, origin=origin, size=size, root=root)

    def _anchored_checkpoints(self, mined: TxReceipt) -> list[Checkpoint]:
        event = self._contract.events.Anchored()
        found = []
        for log in mined["logs"]:
            # Another contract can emit an identically shaped event; only ours counts.
            if log["address"] != self.contract_address or not log["topics"]:
                continue
            if HexBytes(log["topics"][0]) != self._topic:
                continue
            args = event.process_log(log)["args"]
            found.append(
                Checkpoint(origin=args["origin"], size=int(args["size"]), root=bytes(args["root"]))
            )
        return found

    def _raise_if_behind(self, origin: str, size: int) -> None:
        latest = self.latest_size(origin)
        if size < latest:
            raise AnchorRejectedError(origin=origin, size=size, latest_size=latest)

    def _transact(self, call: ContractFunction | ContractConstructor) -> TxReceipt:
        if self._account is None:
            raise AnchorConfigError("no private key configured: this anchor can only verify")
        account = self._account
        with self._lock:
            if self._before_send is not None:
                self._before_send()
            nonce = self._w3.eth.get_transaction_count(account.address, "pending")
            tx = call.build_transaction({"from": account.address, "nonce": nonce})
            # web3's TxParams TypedDict is what eth-account signs, but their stubs disagree.
            signed = account.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = self._w3.eth.send_raw_transaction(signed.raw_transaction)
        return self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._receipt_timeout)

    def _deploy(self, artifact: ContractArtifact) -> ChecksumAddress:
        if self._account is None:
            raise AnchorConfigError("no contract address given and no private key to deploy one")
        factory = self._w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            receipt = self._transact(factory.constructor())
        except _NODE_ERRORS as exc:
            raise AnchorNodeError(f"deploying CheckpointAnchor failed: {exc}") from exc
        address = receipt.get("contractAddress")
        if receipt["status"] != 1 or not address:
            raise AnchorNodeError("deploying CheckpointAnchor reverted")
        return Web3.to_checksum_address(address)

    def _attach(self, contract_address: str, artifact: ContractArtifact) -> ChecksumAddress:
        if not Web3.is_address(contract_address):
            raise AnchorConfigError(f"{contract_address!r} is not an Ethereum address")
        address = Web3.to_checksum_address(contract_address)
        try:
            code = bytes(self._w3.eth.get_code(address))
        except _NODE_ERRORS as exc:
            raise AnchorConfigError(f"reading the code at {address} failed: {exc}") from exc
        if not code:
            raise AnchorConfigError(f"no contract at {address} on chain {self._chain_id}")
        # A look-alike contract could accept anchors without the size check; refuse it.
        if _without_metadata(code) != _without_metadata(
            bytes(HexBytes(artifact.deployed_bytecode))
        ):
            raise AnchorConfigError(
                f"the contract at {address} is not CheckpointAnchor "
                f"(as built by solc {artifact.compiler_version})"
            )
        return address

    def __repr__(self) -> str:
        return (
            f"EthereumAnchor(chain_id={self._chain_id}, contract={self.contract_address}, "
            f"sender={self.sender})"
        )
