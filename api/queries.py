"""Unknown query parameters are refused, as unknown body fields are (``extra="forbid"``).

A misspelt ``limt=5`` silently ignored returns the default page and hides the mistake; the
API answers 422 naming the parameter instead. Only operations of the documented API are
checked: the workbench's pages read their own notices from the query string. The EPCIS
query (``GET /v1/events``) reads a query language whose parameter names carry values
(``EQ_source_owning_party``, ``GE_maxValue_CEL``): it marks itself ``OPEN_QUERY`` and refuses
unknown parameters itself, as the standard's ``QueryParameterException``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["OPEN_QUERY", "reject_unknown_query"]

OPEN_QUERY = "x-open-query"
"""An operation's ``openapi_extra`` key: true when it checks its query parameters itself."""


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """An app-wide dependency: a 422 naming each query parameter the operation does not have."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    if (route.openapi_extra or {}).get(OPEN_QUERY):
        return
    known = _query_names(route.dependant)  # a handful of fields: not worth caching
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )
