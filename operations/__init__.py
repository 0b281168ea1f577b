"""Operations: what the after-sales operation did over a window, and which lots to watch.

Figures for the workbench's operations dashboard and the Prometheus gauges: claims per day
by category and defect, time to first response and to resolution against the SLAs,
breaches, the automation rate and compensation paid, by responsible party, lot and route
(``dashboard``, over the per-claim facts of ``facts``); and the lot early-warning list, a
Gamma-Poisson model of claims per delivered unit against each category's baseline
(``warning``). It reads the claims package's tables and the supply chain's quantities and
writes nothing.

Modules: ``errors``, ``facts`` (one claim's figures, read in SQL and judged by the ticket's
own SLA clock), ``warning`` (pure), ``dashboard``, ``gauges`` (what /metrics exports).
"""
