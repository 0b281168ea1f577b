"""The serving install (``pip install .``, no extras) provides everything the serving code imports.

``make run`` installs only the main dependencies; a module that the API imports but only the
dev or train extras bring (as httpx once was) would pass the whole suite and still break
``make run`` on a fresh machine. Optional runtimes are imported lazily and named here.
"""

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from tests.conftest import REPO

SERVING_PACKAGES = (
    "vision",
    "ledger",
    "supplychain",
    "cases",
    "operations",
    "claims",
    "stations",
    "storage",
    "api",
    "dossier",
    "notifications",
    "serving",
)
OURS = {*SERVING_PACKAGES, "training", "tests"}
# Imported inside functions, behind a setting or a command that says which extra to install.
OPTIONAL = {"openvino", "ultralytics", "torch", "onnx", "onnxslim", "rapidocr"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions the main dependencies pull in, following only unconditional needs."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_serving_code_imports_only_main_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    installed = _closure({_name(r) for r in project["dependencies"]})
    providers = metadata.packages_distributions()
    missing = {}
    for package in SERVING_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for module in _imports(path) - OURS - OPTIONAL - set(sys.stdlib_module_names):
                dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
                if not dists & installed:
                    missing[f"{path.relative_to(REPO)}: {module}"] = sorted(dists)
    assert not missing, f"imported by serving code but not in the main dependencies: {missing}"


def test_the_simulator_is_not_shipped_and_serving_code_does_not_import_it() -> None:
    """Benches and tests drive the simulator from the checkout; the wheel leaves it out."""
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    included = find["packages"]["find"]["include"]
    assert not [p for p in included if p.startswith("simulator")]
    assert {p.rstrip("*") for p in included} >= set(SERVING_PACKAGES)
    importers = [
        str(path.relative_to(REPO))
        for package in SERVING_PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "simulator" in _imports(path)
    ]
    assert not importers, f"serving code imports the simulator: {importers}"
