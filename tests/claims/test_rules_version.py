"""The rules' version moves with their code: the digest of the rule modules is pinned per
version in docs/rules-versions.md (see that page for what to do when this fails)."""

from __future__ import annotations

import re
from pathlib import Path

from claims.rules_digest import RULE_MODULES, rules_digest, sources_digest
from claims.verdict import RULES_VERSION

PAGE = Path(__file__).resolve().parents[2] / "docs" / "rules-versions.md"
ROW = re.compile(r"^\| (\d{4}\.\d{1,2}\.\d+(?:\.\d+)?) \| ([0-9a-f]{16}|\(none pinned\)) \|")


def _pinned() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in PAGE.read_text(encoding="utf-8").splitlines()]
    return [(m.group(1), m.group(2)) for m in rows if m]


def test_the_rules_code_is_the_code_pinned_for_their_version() -> None:
    versions = _pinned()
    assert versions, f"no version rows in {PAGE}"
    latest, digest = versions[-1]
    assert latest == RULES_VERSION, (
        f"RULES_VERSION is {RULES_VERSION} but the last row of {PAGE.name} is {latest}"
    )
    assert rules_digest() == digest, (
        f"the rule modules' code changed (digest {rules_digest()}, pinned {digest} for "
        f"{RULES_VERSION}): if a verdict can change, give RULES_VERSION a new version and add "
        f"its row to docs/{PAGE.name}; if none can, write the new digest into its row"
    )


def test_each_version_appears_once_in_order() -> None:
    names = [v for v, _ in _pinned()]
    assert len(set(names)) == len(names)
    key = [tuple(int(p) for p in v.split(".")) for v in names]
    assert key == sorted(key)


def test_the_digest_reads_code_not_comments_docstrings_or_layout() -> None:
    code = 'def confidence(x):\n    """How sure."""\n    return 0.95 * x\n'
    same = (
        '"""A module docstring."""\n\n# a comment\ndef confidence(x):  # trailing\n'
        '    """Another docstring."""\n    return (0.95\n            * x)\n'
    )
    changed = code.replace("0.95", "0.9")
    base = sources_digest([("claims.x", code)])
    assert sources_digest([("claims.x", same)]) == base
    assert sources_digest([("claims.x", changed)]) != base
    assert sources_digest([("claims.y", code)]) != base  # the module's name counts too


def test_every_rule_module_is_read() -> None:
    assert "claims.labels" in RULE_MODULES and "supplychain.custody" in RULE_MODULES
    assert rules_digest(RULE_MODULES[:-1]) != rules_digest()
