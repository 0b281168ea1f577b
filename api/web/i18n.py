"""The public pages' languages: which one a reader gets, and their text in a catalogue.

Templates mark their text with jinja2's i18n extension (``{% trans %}``, ``_()``); the
message ids are the English text, and each other language has one JSON catalogue in
``locales/`` (message id → text). A message a catalogue lacks reads in English, and a test
checks every marked message has its translation. The language is ``?lang=`` when given,
else the best of the browser's ``Accept-Language`` we have, else English.
"""

from __future__ import annotations

import gettext as gettext_module
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pycountry
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "catalogue",
    "country_name",
    "format_time",
    "i18n_templates",
    "negotiate",
    "translate",
]

LANGUAGES = ("en", "zh")
"""The languages the public pages are written in; the first is the fallback."""
DEFAULT_LANGUAGE = LANGUAGES[0]
LOCALES = Path(__file__).parent / "locales"


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """The language's messages (English: none, the ids are English)."""
    path = LOCALES / f"{language}.json"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("@")}


def translate(message: str, language: str) -> str:
    """One message in ``language`` (its English id where the catalogue lacks it)."""
    return catalogue(language).get(message, message)


def _primary(tag: str) -> str:
    return tag.strip().split("-")[0].split("_")[0].lower()


def negotiate(accept_language: str | None, override: str | None = None) -> str:
    """The language to answer in: ``override`` if we have it, else the browser's most
    preferred that we have (RFC 9110 §12.5.4 quality values), else English."""
    if override and _primary(override) in LANGUAGES:
        return _primary(override)
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.strip() and q > 0:
            ranked.append((-q, position, _primary(tag)))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def format_time(at: datetime, language: str) -> str:
    """A moment as a reader of ``language`` writes it, in UTC (said so)."""
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    if language == "zh":
        return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M} UTC"
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


@cache
def _iso3166(language: str) -> gettext_module.NullTranslations:
    names = {"zh": ["zh_CN"]}.get(language)
    if names is None:
        return gettext_module.NullTranslations()
    return gettext_module.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=names, fallback=True
    )


def country_name(code: str, language: str) -> str:
    """An ISO 3166-1 code's country name in ``language`` (the code itself if unknown)."""
    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    if country is None and len(code) == 3:
        country = (
            pycountry.countries.get(alpha_3=code.upper())
            if code.isalpha()
            else pycountry.countries.get(numeric=code)
        )
    if country is None:
        return code
    name: str = getattr(country, "common_name", None) or country.name
    return _iso3166(language).gettext(country.name) if language != "en" else name


@pass_context
def _gettext(context: Context, message: str, **variables: Any) -> str:
    text = translate(message, context.get("lang", DEFAULT_LANGUAGE))
    if context.eval_ctx.autoescape:
        text = Markup(text)  # the catalogue is ours; the variables are escaped by ``%``
    return text % variables if variables else text


@pass_context
def _ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
    language = context.get("lang", DEFAULT_LANGUAGE)
    # Chinese has one form; English the two of its message ids.
    message = singular if num == 1 or language != DEFAULT_LANGUAGE else plural
    text = translate(singular if language != DEFAULT_LANGUAGE else message, language)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % {"num": num, **variables}


def i18n_templates(directory: Path) -> Jinja2Templates:
    """Templates whose ``{% trans %}`` and ``_()`` read the context's ``lang``."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals.update(gettext=_gettext, ngettext=_ngettext, _=_gettext)
    return Jinja2Templates(env=env)
