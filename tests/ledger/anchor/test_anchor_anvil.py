"""EthereumAnchor over JSON-RPC against a real node: anvil from the pinned npm package."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from ledger.anchor import (
    AnchorMismatchError,
    AnchorReceipt,
    AnchorRejectedError,
    EthereumAnchor,
)

pytestmark = pytest.mark.chain

# anvil's first dev account (from its default mnemonic "test test ... junk"): public test key.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_CHAIN_ID = 31337
ORIGIN = "test.freshproof.local/anvil-log"
ROOT = bytes(range(32))
NEXT_ROOT = bytes(range(1, 33))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _anvil_binary(node_modules: Path) -> Path:
    # @foundry-rs/anvil-<os>-<arch>/bin/anvil[.exe]: the package name varies per platform.
    found = sorted(node_modules.glob("@foundry-rs/anvil-*/bin/anvil*"))
    if not found:
        pytest.skip(f"no anvil binary for this platform under {node_modules}/@foundry-rs")
    return found[0]


def _wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 1}))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"anvil exited with {proc.returncode}:\n{log.read_text()}")
        if w3.is_connected():
            return
        time.sleep(0.05)
    pytest.fail(f"anvil did not answer at {url} within 20 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def anvil_url(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh anvil on a free localhost port; stopped when the module's tests are done."""
    binary = _anvil_binary(node_modules)
    port = _free_port()
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def deployed(anvil_url: str) -> EthereumAnchor:
    """from_rpc with no address: deploys CheckpointAnchor on anvil."""
    return EthereumAnchor.from_rpc(anvil_url, DEV_KEY)


@pytest.fixture(scope="module")
def first(deployed: EthereumAnchor) -> AnchorReceipt:
    """The first anchor written to the anvil chain."""
    return deployed.anchor(origin=ORIGIN, size=5, root=ROOT)


def test_dev_key_is_anvils_first_account() -> None:
    assert Account.from_key(DEV_KEY).address == DEV_ADDRESS


def test_deploys_anchors_and_verifies(deployed: EthereumAnchor, first: AnchorReceipt) -> None:
    assert deployed.sender == DEV_ADDRESS
    assert first.chain_id == ANVIL_CHAIN_ID
    assert first.contract_address == deployed.contract_address
    assert first.block_number >= 1
    assert first.tx_hash.startswith("0x") and len(first.tx_hash) == 66
    deployed.verify(first, origin=ORIGIN, size=5, root=ROOT)


def test_persisted_address_is_reused_by_a_verify_only_anchor(
    anvil_url: str, deployed: EthereumAnchor, first: AnchorReceipt
) -> None:
    auditor = EthereumAnchor.from_rpc(anvil_url, None, deployed.contract_address)
    auditor.verify(first, origin=ORIGIN, size=5, root=ROOT)
    with pytest.raises(AnchorMismatchError):
        auditor.verify(first, origin=ORIGIN, size=5, root=NEXT_ROOT)


def test_attaching_with_the_key_anchors_into_the_same_contract(
    anvil_url: str, deployed: EthereumAnchor, first: AnchorReceipt
) -> None:
    again = EthereumAnchor.from_rpc(anvil_url, DEV_KEY, deployed.contract_address)
    later = again.anchor(origin=ORIGIN, size=8, root=NEXT_ROOT)
    deployed.verify(later, origin=ORIGIN, size=8, root=NEXT_ROOT)
    assert deployed.latest_size(ORIGIN) == 8


def test_size_going_backwards_is_rejected_by_the_node(
    deployed: EthereumAnchor, first: AnchorReceipt
) -> None:
    with pytest.raises(AnchorRejectedError) as caught:
        deployed.anchor(origin=ORIGIN, size=1, root=ROOT)
    assert caught.value.size == 1
    assert caught.value.latest_size >= 5


def test_our_cli_anchors_and_verifies_on_anvil(
    anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`freshproof ledger anchor` with the rpc backend, then `ledger verify` checks on chain."""
    import json

    from typer.testing import CliRunner

    from api.cli import app
    from api.services import build_services
    from api.settings import Settings

    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "rpc")
    monkeypatch.setenv("FRESHPROOF_ANCHOR_RPC_URL", anvil_url)
    monkeypatch.setenv("FRESHPROOF_ANCHOR_PRIVATE_KEY", DEV_KEY)
    services = build_services(Settings())
    services.ledger.append_many([("test.note", {"n": i}) for i in range(9)])
    services.close()
    runner = CliRunner()
    made = runner.invoke(app, ["ledger", "anchor"])
    assert made.exit_code == 0, made.output
    assert f"on chain {ANVIL_CHAIN_ID}" in made.stdout and "anchored size 9" in made.stdout
    state = json.loads((tmp_path / "var" / "anchor.json").read_text())
    assert state["contract_address"].startswith("0x")
    ok = runner.invoke(app, ["ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "1 anchors match the log and verify on chain" in ok.stdout
