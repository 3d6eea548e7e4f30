"""The layers of DESIGN §3 as checked facts (issue 8, "Layers enforced").

`.importlinter` holds the contract that `lint-imports` checks in scripts/test.sh and `make lint`:
apps depend one way (kernel ← identity ← customfields ← contacts ← deals ← activities ←
automation; web, demo and config above them), the domain never imports an interface, selectors
never import services. This file adds what the linter cannot say:

- every module under src/voronka is named by the contract as domain or interface (a new module
  with a new name would otherwise be checked by nothing);
- no module imports a private name (`_name`) from another module (import-linter sees modules,
  not names);
- production modules hold no test-only switches (`*_DISABLED`): negative controls patch the
  guard function instead (tests/negative_controls.py).

Negative controls: an import added to the real graph breaks each contract; an unclassified
module, a private import and a switch planted in sample source are each found."""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest
from importlinter import configuration
from importlinter.application import use_cases

configuration.configure()  # what `lint-imports` does before it reads the contract
use_cases._register_built_in_contract_types()

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
CONFIG = ROOT / ".importlinter"
SKIPPED_PARTS = {"migrations", "__pycache__"}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "voronka").rglob("*.py")):
        if SKIPPED_PARTS & set(path.parts):
            continue
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _pattern(expression: str) -> re.Pattern[str]:
    """An import-linter module expression as a regex over the module and its descendants."""
    regex = r"\.".join(
        r"[^.]+(\.[^.]+)*" if part == "**" else r"[^.]+" if part == "*" else re.escape(part)
        for part in expression.split(".")
    )
    return re.compile(rf"{regex}(\..+)?")


def _expressions(config: configparser.ConfigParser, contract: str, key: str) -> list[str]:
    return [line.strip() for line in config[contract][key].splitlines() if line.strip()]


def unclassified(modules: list[str]) -> list[str]:
    """Modules that the contract names neither as domain (source of the "interfaces"
    contract) nor as interface (forbidden there)."""
    config = configparser.ConfigParser()
    config.read(CONFIG)
    name = "importlinter:contract:interfaces"
    patterns = [
        _pattern(e)
        for key in ("source_modules", "forbidden_modules")
        for e in _expressions(config, name, key)
    ]
    # Package roots and app configs hold no code of their own.
    plain = re.compile(r"voronka(\.[^.]+(\.apps|\.management(\.commands)?)?)?")
    return [
        m for m in modules if not plain.fullmatch(m) and not any(p.fullmatch(m) for p in patterns)
    ]


def private_imports(module: str, source: str) -> list[str]:
    """`from x import _name` where x is another module (relative imports resolved). The parts of
    a module split into a package below an app (deals/services/deal.py, moves.py, fields.py …)
    share their helpers as one module did; between an app's own modules
    (activities.monitors → activities.notifications) or across apps a private name is not
    shared: make it public, or move it."""
    found = []
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        target = node.module or ""
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, target] if target else base)
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            parent = module.rsplit(".", 1)[0]
            split_part = parent.count(".") >= 2 and target.rsplit(".", 1)[0] == parent
            if private and target != module and not split_part:
                found.append(f"{module}: from {target} import {alias.name}")
    return found


SWITCH = re.compile(r"^\s*([A-Z][A-Z0-9_]*_)?DISABLED\s*[:=]", re.MULTILINE)


def switches(source: str) -> list[str]:
    return [m.group(0).strip() for m in SWITCH.finditer(source)]


def test_every_module_is_named_as_domain_or_interface() -> None:
    missing = unclassified([name for name, _ in _modules()])
    assert not missing, f"add these to .importlinter (domain or interface): {missing}"


def test_no_module_imports_a_private_name_from_another() -> None:
    found = [hit for name, path in _modules() for hit in private_imports(name, path.read_text())]
    assert not found, found


def test_production_modules_hold_no_test_switches() -> None:
    found = [f"{name}: {hit}" for name, path in _modules() for hit in switches(path.read_text())]
    assert not found, f"patch the guard in tests/negative_controls.py instead: {found}"


def test_the_contract_is_kept() -> None:
    report = use_cases.create_report(use_cases.read_user_options(str(CONFIG)), cache_dir=None)
    broken = [c.name for c, check in report.get_contracts_and_checks() if not check.kept]
    assert report.kept_count == 4 and not broken, broken


# --- negative controls ---------------------------------------------------------------------

PLANTED = {
    # kernel reaching up to the scope function (what kernel.files used to do)
    "voronka.kernel.clock": ("voronka.identity.scopes", "layers"),
    # a domain module reaching into its own app's views
    "voronka.deals.models": ("voronka.deals.views", "interfaces"),
    # a domain module formatting with a template tag (what deals.cards used to do): an
    # interface, and above deals
    "voronka.deals.cards": ("voronka.web.templatetags.voronka", "layers interfaces"),
    # a selector calling a service
    "voronka.contacts.selectors": ("voronka.contacts.services", "selectors"),
}


@pytest.mark.parametrize("importer", sorted(PLANTED))
def test_control_a_planted_import_breaks_its_contract(
    importer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported, contract_ids = PLANTED[importer]
    real_build = use_cases._build_graph

    def build_with_planted_import(**kwargs: object) -> grimp.ImportGraph:
        graph = real_build(**kwargs)  # type: ignore[arg-type]
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
        return graph

    monkeypatch.setattr(use_cases, "_build_graph", build_with_planted_import)
    options = use_cases.read_user_options(str(CONFIG))
    report = use_cases.create_report(options, cache_dir=None)
    broken = [c.name for c, check in report.get_contracts_and_checks() if not check.kept]
    names = {o["id"]: o["name"] for o in options.contracts_options}
    assert broken == [names[i] for i in contract_ids.split()]


def test_control_an_unnamed_module_is_found() -> None:
    assert unclassified(["voronka.deals.models", "voronka.deals.widgets"]) == [
        "voronka.deals.widgets"
    ]


def test_control_a_private_import_is_found() -> None:
    source = "from voronka.activities.notifications import _notify\nfrom .moves import _x\n"
    assert private_imports("voronka.deals.services.fields", source) == [
        "voronka.deals.services.fields: from voronka.activities.notifications import _notify",
    ]  # the parts of the split deals.services share helpers; another app's are not shared
    source = "from .notifications import _notify\n"
    assert private_imports("voronka.activities.monitors", source) == [
        "voronka.activities.monitors: from voronka.activities.notifications import _notify",
    ]
    assert private_imports("voronka.kernel.x", "from django.utils.translation import gettext") == []


def test_control_a_switch_is_found() -> None:
    assert switches("SCOPE_FILTER_DISABLED = False\n") == ["SCOPE_FILTER_DISABLED ="]
    assert switches("    DISABLED: bool = False\n") == ["DISABLED:"]
    assert switches("if SCOPE_FILTER_DISABLED:\n    pass\n") == []
