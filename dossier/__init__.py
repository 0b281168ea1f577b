"""The claim dossier: one file a counter-party checks offline with only our public key.

``dossier.build`` writes it from the database and the ledger; ``dossier.verify`` checks it
with nothing but the file and the verifier key (no database, no network), so whoever is
named responsible can verify a verdict with a minimal install.
"""
