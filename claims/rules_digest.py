"""Which code makes verdicts, as one digest: what ``RULES_VERSION`` must move with.

A verdict records ``rules_version`` so an auditor can tell which rules made it. That only
holds if the version moves whenever the rules do, and a person forgets. The digest is taken
over the modules that turn records and findings into a verdict, as Python reads them
(their syntax trees, docstrings dropped): a comment or a reflow leaves it alone, any
change to code does not. ``docs/rules-versions.md`` pins each version to its digest, and a
test fails when the code's digest is not the one pinned for ``RULES_VERSION``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

__all__ = ["RULE_MODULES", "rules_digest", "sources_digest"]

RULE_MODULES: tuple[str, ...] = (
    "claims.assessment",
    "claims.coldchain",
    "claims.labels",
    "claims.latent",
    "claims.profiles",
    "claims.provenance",
    "claims.responsibility",
    "claims.segments",
    "claims.shelflife",
    "claims.timeline",
    "claims.verdict",
    "claims.visible",
    "supplychain.custody",
)
"""The modules whose code decides a verdict: how records become a lot's history
(``supplychain.custody``, ``claims.timeline``, ``claims.segments``), the default profiles and
the rules themselves. The policy's numbers are data, recorded with each assessment."""


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    return Path(spec.origin).read_text(encoding="utf-8")


def sources_digest(sources: Iterable[tuple[str, str]]) -> str:
    """SHA-256 (hex, first 16 digits) over (name, Python source) pairs as syntax trees
    without docstrings, in the order given."""
    h = hashlib.sha256()
    for name, source in sources:
        tree = _without_docstrings(ast.parse(source, filename=name))
        h.update(name.encode() + b"\0")
        h.update(ast.dump(tree, annotate_fields=True, include_attributes=False).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def rules_digest(modules: tuple[str, ...] = RULE_MODULES) -> str:
    """The digest of the rule modules' code as installed."""
    return sources_digest((m, _source(m)) for m in modules)
