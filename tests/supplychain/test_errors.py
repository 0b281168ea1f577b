"""One root error for the supply chain, itself a ledger error (the API's one handler)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import supplychain
from ledger.errors import LedgerError
from supplychain.errors import SupplyChainError


def test_every_public_error_of_the_package_derives_from_the_root() -> None:
    errors = {
        obj
        for info in pkgutil.walk_packages(supplychain.__path__, "supplychain.")
        for name, obj in vars(importlib.import_module(info.name)).items()
        if inspect.isclass(obj)
        and issubclass(obj, Exception)
        and obj.__module__.startswith("supplychain.")
        and not name.startswith("_")
    }
    assert len(errors) > 10
    assert not {e.__qualname__ for e in errors if not issubclass(e, SupplyChainError)}
    assert issubclass(SupplyChainError, LedgerError)
