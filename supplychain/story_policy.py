"""What a pack's public page may show: the policy, as configuration.

The default shows a lot's supply-chain records and nothing else: no customer (a party of a
hidden role, and everything while one holds the goods), no returns graded at stations, no
commercial terms (``bizTransactionList`` is not a public field), no extension field (a price
or an internal code would be one), and nothing a supplier marks private on its own event:

- ``"fp:private": true`` leaves the whole event out;
- ``"fp:private": ["readPoint", "cbvmda:farmList"]`` leaves those fields (EPCIS fields of the
  event, or ILMD keys) out.

A record is published whole, for the reader's browser to hash against the signed
checkpoint, only when every field in it is public; otherwise the page shows its public
fields and proves only that its leaf is in the log. An operator changes the policy with a
JSON file (``FRESHPROOF_PUBLIC_STORY_POLICY``), checked whole at start-up::

    {
      "products": {"04000001123452": {"category": "chilled",
                                      "names": {"en": "Strawberries 500 g", "zh": "草莓 500 克"}}},
      "origin_fields": ["cbvmda:countryOfOrigin", "cbvmda:harvestStartDate"],
      "extension_fields": ["example:organicCertificate"]
    }
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from supplychain.errors import SupplyChainError

__all__ = [
    "DEFAULT_STORY_POLICY",
    "InvalidStoryPolicyError",
    "Product",
    "StoryPolicy",
    "load_story_policy",
    "parse_story_policy",
]


class InvalidStoryPolicyError(SupplyChainError):
    """A public-story policy file that does not read; ``key`` names where."""

    def __init__(self, key: str, reason: str) -> None:
        self.key, self.reason = key, reason
        super().__init__(f"public story policy {key}: {reason}")


@dataclass(frozen=True)
class Product:
    """A GTIN's public name (per language) and its temperature category (GUIDE §4)."""

    names: Mapping[str, str] = field(default_factory=dict)
    category: str | None = None

    def name(self, language: str) -> str | None:
        """Its name in ``language``, else in English, else in any language it has."""
        return (
            self.names.get(language)
            or self.names.get("en")
            or next(iter(self.names.values()), None)
        )


# EPCIS 2.0 event fields that say what happened to the goods, where and under what
# conditions. Not here: bizTransactionList (orders, invoices), errorDeclaration, recordTime.
_EVENT_FIELDS = frozenset(
    {
        "type", "eventTime", "eventTimeZoneOffset", "eventID", "action", "bizStep",
        "disposition", "persistentDisposition", "readPoint", "bizLocation", "epcList",
        "quantityList", "parentID", "childEPCs", "childQuantityList", "inputEPCList",
        "inputQuantityList", "outputEPCList", "outputQuantityList", "sourceList",
        "destinationList", "sensorElementList", "certificationInfo", "ilmd", "transformationID",
        "@context",
    }
)  # fmt: skip

# CBV master data (CBV 2.0 §10) a consumer asks about: where and when it was grown or
# caught, and until when it keeps. Shown in this order.
_ORIGIN_FIELDS = (
    "cbvmda:countryOfOrigin",
    "cbvmda:countryOfOriginCode",
    "cbvmda:farmList",
    "cbvmda:harvestStartDate",
    "cbvmda:harvestEndDate",
    "cbvmda:productionMethodForFishAndSeafoodCode",
    "cbvmda:catchArea",
    "cbvmda:bestBeforeDate",
    "cbvmda:useByDate",
    "cbvmda:itemExpirationDate",
    "cbvmda:sellByDate",
)


@dataclass(frozen=True)
class StoryPolicy:
    """Which of a lot's records, and which of their fields, the public page shows."""

    event_fields: frozenset[str] = _EVENT_FIELDS
    origin_fields: tuple[str, ...] = _ORIGIN_FIELDS
    # Prefixed extension fields that are public (none by default: any could be a price).
    extension_fields: frozenset[str] = frozenset()
    # Parties of these roles are never named, nor is anything while they hold the goods.
    hidden_roles: frozenset[str] = frozenset({"customer"})
    private_marker: str = "fp:private"
    # Returns graded at stations and inspections of single items after delivery are about
    # one customer's item, not the lot's supply chain (GUIDE §4 rule 4).
    show_returns: bool = False
    # A record is published whole only if its capturer is named by one of these prefixes:
    # an API key's id and role (``key:fpk_… (supply_chain)``), never a shell user's login.
    public_capturers: tuple[str, ...] = ("key:",)
    products: Mapping[str, Product] = field(default_factory=lambda: MappingProxyType({}))
    # The temperature category of a GTIN the products table does not list (None: no band).
    default_category: str | None = None

    def product(self, gtin: str) -> Product:
        """What the policy says of a GTIN (its category defaults to ``default_category``)."""
        known = self.products.get(gtin)
        if known is None:
            return Product(category=self.default_category)
        return known if known.category else replace(known, category=self.default_category)


DEFAULT_STORY_POLICY = StoryPolicy()
"""The policy without a file: supply-chain records only, nothing private, no product names."""


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidStoryPolicyError(key, "must be a list of non-empty strings")
    return tuple(value)


def _product(gtin: str, value: Any) -> Product:
    key = f"products.{gtin}"
    if not (len(gtin) == 14 and gtin.isdigit()):
        raise InvalidStoryPolicyError(key, "a product is keyed by its 14-digit GTIN")
    if not isinstance(value, Mapping) or set(value) - {"names", "category"}:
        raise InvalidStoryPolicyError(key, "takes names and category only")
    names = value.get("names", {})
    if not isinstance(names, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in names.items()
    ):
        raise InvalidStoryPolicyError(f"{key}.names", "maps a language code to a name")
    category = value.get("category")
    if category is not None and not isinstance(category, str):
        raise InvalidStoryPolicyError(f"{key}.category", "must be a category name")
    return Product(MappingProxyType(dict(names)), category)


_KEYS = {
    "event_fields",
    "origin_fields",
    "extension_fields",
    "hidden_roles",
    "private_marker",
    "show_returns",
    "public_capturers",
    "products",
    "default_category",
}


def parse_story_policy(config: Mapping[str, Any]) -> StoryPolicy:
    """The policy a JSON object sets over the defaults; an unknown key is an error."""
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise InvalidStoryPolicyError(
            unknown[0], f"unknown key (known: {', '.join(sorted(_KEYS))})"
        )
    policy = DEFAULT_STORY_POLICY
    if "event_fields" in config:
        policy = replace(
            policy, event_fields=frozenset(_strings(config["event_fields"], "event_fields"))
        )
    if "extension_fields" in config:
        fields = _strings(config["extension_fields"], "extension_fields")
        policy = replace(policy, extension_fields=frozenset(fields))
    if "hidden_roles" in config:
        roles = _strings(config["hidden_roles"], "hidden_roles")
        policy = replace(policy, hidden_roles=frozenset(roles))
    if "origin_fields" in config:
        policy = replace(policy, origin_fields=_strings(config["origin_fields"], "origin_fields"))
    if "public_capturers" in config:
        policy = replace(
            policy, public_capturers=_strings(config["public_capturers"], "public_capturers")
        )
    if "private_marker" in config:
        (marker,) = _strings([config["private_marker"]], "private_marker")
        policy = replace(policy, private_marker=marker)
    if "show_returns" in config:
        if not isinstance(config["show_returns"], bool):
            raise InvalidStoryPolicyError("show_returns", "must be true or false")
        policy = replace(policy, show_returns=config["show_returns"])
    if "default_category" in config:
        value = config["default_category"]
        if value is not None and not isinstance(value, str):
            raise InvalidStoryPolicyError("default_category", "must be a category name or null")
        policy = replace(policy, default_category=value)
    if "products" in config:
        products = config["products"]
        if not isinstance(products, Mapping):
            raise InvalidStoryPolicyError("products", "maps a GTIN to its name and category")
        policy = replace(
            policy,
            products=MappingProxyType({g: _product(g, v) for g, v in products.items()}),
        )
    return policy


def load_story_policy(path: Path | None) -> StoryPolicy:
    """The policy from a JSON file (None: the default)."""
    if path is None:
        return DEFAULT_STORY_POLICY
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidStoryPolicyError(str(path), f"cannot be read as JSON ({exc})") from None
    if not isinstance(config, Mapping):
        raise InvalidStoryPolicyError(str(path), "must hold a JSON object")
    return parse_story_policy(config)
