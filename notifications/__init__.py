"""Webhook notifications: a transactional outbox and a relay that loses nothing.

Modules: ``outbox`` (the ``outbox`` table; ``enqueue`` in the caller's transaction),
``signatures`` (the headers, ``sign`` and ``verify_signature`` for receivers), ``relay``
(``Relay`` delivers due rows with backoff and leases), ``deliveries`` (``redeliver`` a dead
letter), ``times`` (UTC only), ``errors`` (``NotificationsError`` and its subclasses).

Nothing here imports the claims: they import ``enqueue``.
"""
