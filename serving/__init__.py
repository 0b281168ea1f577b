"""Model serving: which model judges photos, recorded on the ledger, and the one loaded.

Modules: ``releases`` (``model.release``, ``model.rollback`` and ``model.gate`` entries
and their projection tables: planning apart from the writes), ``model_server`` (the
serving model of one process, following the ledger's releases without a restart).
"""
