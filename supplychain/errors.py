"""The supply chain's root error; every error of the package derives from `SupplyChainError`.

`SupplyChainError` is itself a ``ledger.errors.LedgerError``: the API answers every error of
the log and of the records written into it from one handler and one mapping table
(``api/problems.py``), most specific class first, so the HTTP answers are those the
supply-chain errors had while they lived in ``ledger``.

Hierarchy::

    LedgerError                     (ledger.errors)
    └── SupplyChainError
        ├── EPCISError              an EPCIS document is refused (supplychain.epcis.errors)
        ├── EPCError                an EPC URI does not decode (supplychain.identifiers.tds)
        ├── PartyError              a party registration is not acceptable (supplychain.capture)
        ├── RoleChangeRefusedError  a party's role changed without an admin (supplychain.capture)
        ├── UnknownLotError         no captured event names the lot (supplychain.custody)
        ├── NotYourCustodyError     outside the caller's part of the lot (supplychain.authorship)
        ├── TooManyHeldError        a key holds as many documents as it may (supplychain.held)
        ├── UnknownHeldCaptureError no such held capture (supplychain.held)
        ├── NotYourLotError         reading a lot none of the caller's parties took part in
        │                           (supplychain.query.errors)
        ├── QueryError              an EPCIS query is refused (supplychain.query.errors)
        ├── ExportQueryError        an FSMA export query that cannot run (supplychain.fsma)
        ├── ColdChainCSVError       a logger CSV export is refused (supplychain.coldchain_csv)
        └── InvalidJSONError        bytes that are not acceptable JSON (supplychain.strict_json)
"""

from __future__ import annotations

from ledger.errors import LedgerError

__all__ = ["SupplyChainError"]


class SupplyChainError(LedgerError):
    """Root of every error the supplychain package raises."""
