"""The pack page's catalogue: every message the templates and tables mark has its Chinese,
and the Chinese catalogue holds nothing stale."""

from __future__ import annotations

import re
from pathlib import Path

from api.web.i18n import LANGUAGES, catalogue
from api.web.pack import PACK_TEXT, templates

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "web" / "templates"
PAGES = ("pack_base.html", "pack.html", "pack_error.html")
# Message ids built in Python (api/web/pack.py) rather than marked in a template.
IN_CODE = {
    "Lot %(lot)s",
    "%(min)s to %(max)s",
    "at most %(max)s",
    "at least %(min)s",
    "%(h)s h %(m)s min",
    "%(m)s min",
}


def _marked() -> set[str]:
    found: set[str] = set(IN_CODE)
    for name in PAGES:
        for _, _, message in templates.env.extract_translations((TEMPLATES / name).read_text()):
            # A variable's message (``_(label)``) has no id here: its tables are read below.
            # A plural's id is its singular (Chinese has one form; English has the plural).
            first = message[0] if isinstance(message, tuple) else message
            if first:
                found.add(first)
    for table in PACK_TEXT:
        found.update(table.values())
    return found


def test_every_message_has_its_chinese() -> None:
    zh = catalogue("zh")
    missing = sorted(m for m in _marked() if m not in zh)
    assert missing == []


def test_no_stale_or_broken_entries() -> None:
    zh = catalogue("zh")
    marked = _marked()
    stale = sorted(m for m in zh if m not in marked)
    assert stale == []
    for message, text in zh.items():
        # The same placeholders, so formatting a translation never fails or drops a value.
        names = set(re.findall(r"%\((\w+)\)s|\{(\w+)\}", message))
        assert names <= set(re.findall(r"%\((\w+)\)s|\{(\w+)\}", text)) | {("num", "")}, message
    assert LANGUAGES == ("en", "zh") and catalogue("en") == {}
