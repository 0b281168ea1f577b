"""Supply-chain records: EPCIS capture, GS1 identifiers, custody, traces, projections.

What parties say happened to a lot (EPCIS 2.0 events, captured into the transparency log
of ``ledger``), who held it when, and the tables that index it. The log never imports
this package; this package writes into the log.
"""
