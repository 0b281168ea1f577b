"""Unknown query parameters are refused, as unknown body fields are (``extra="forbid"``).

A misspelt ``limt=5`` silently ignored returns the default page and hides the mistake; the
API answers 422 naming the parameter instead. Only operations of the documented API are
checked: the workbench's pages read their own notices from the query string.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["reject_unknown_query"]


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
