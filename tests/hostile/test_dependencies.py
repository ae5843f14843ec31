"""Dependencies (issue 7): what the rig imports at run time is exactly what a plain install of it
gives, and that install is pinned with hashes. ``cryptography`` (TLS 1.2 certificate names) came only
with the test extras, so a plain install failed every certificate parse; pandas, plotly and pyshark
were declared and never imported."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("sandbox", "dashboards", "hw")  # what a plain install ships (pyproject packages.find)
# Code that runs in an environment of its own, with its own hash-locked pins: the mitmproxy addon is
# loaded by mitmdump from .venv-mitmproxy (mitmproxy.lock), never imported by the rig itself.
OWN_ENVIRONMENT = {"hw/net/addon.py": "mitmproxy.lock"}
# Code that only the live demo runs, whose imports its extra declares (pyproject optional-dependencies):
# the simulated instrument's clients and its cloud's servers are no part of the rig.
EXTRA_CODE = {"hw/demo/": "demo"}
# Declared by an extra for a library's own import that the library's extras do not name: moto's S3
# app (moto.server) imports flask_cors, which only moto[server] (every AWS service's deps) brings.
FOR_A_LIBRARY = {"flask-cors": "moto.server"}
FLEET_EXTRA = "fleet"  # optional: a PostgreSQL store and Dask archive replays


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_runtime() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {canonical(re.match(r"[A-Za-z0-9_.-]+", dep).group()) for dep in project["dependencies"]}


def declared_extra(name: str) -> set[str]:
    """An optional extra's distributions, with the ones their own extras name when those are
    distributions too (dask[distributed] brings distributed; moto[s3] names no distribution s3)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][name]
    out = set()
    for dep in deps:
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]+)\])?", dep)
        out.add(canonical(match[1]))
        out |= {canonical(e) for e in (match[2] or "").split(",") if e and _installed(e)}
    return out


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def third_party_imports(extra: str | None = None) -> dict[str, list[str]]:
    """Top-level modules imported anywhere (lazily too) in the runtime packages, with the files; with
    ``extra``, in the code that extra serves (``EXTRA_CODE``) instead."""
    found: dict[str, list[str]] = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            if rel in OWN_ENVIRONMENT:
                continue
            served = next((name for prefix, name in EXTRA_CODE.items() if rel.startswith(prefix)), None)
            if served != extra:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES and top != "__future__":
                        found.setdefault(top, []).append(str(path.relative_to(REPO)))
    return found


def locked() -> dict[str, tuple[str, int]]:
    """requirements.lock as {name: (version, number of hashes)}."""
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", (REPO / "requirements.lock").read_text()):
        if match := re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block):
            pins[canonical(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def test_dependencies_every_third_party_import_is_a_declared_runtime_dependency():
    owners = packages_distributions()
    # the fleet extra: imported only by the PostgreSQL store and the Dask replay, which say how to
    # install it when it is missing (the embedded store and one-process replay never import it)
    declared = declared_runtime() | declared_extra(FLEET_EXTRA)
    imports = third_party_imports()
    assert {"cryptography", "usb", "pyudev"} <= set(imports)  # lazy imports (TLS certificates, USB taps) are seen
    assert {"psycopg", "distributed"} <= set(imports)
    undeclared = {module: (sorted(owners.get(module, [])), files[:3]) for module, files in imports.items()
                  if not {canonical(d) for d in owners.get(module, [])} & declared}
    assert undeclared == {}


def test_dependencies_code_of_an_extra_imports_only_what_the_runtime_and_that_extra_declare():
    owners = packages_distributions()
    for prefix, extra in EXTRA_CODE.items():
        imports = third_party_imports(extra)
        assert imports, prefix
        declared = declared_runtime() | declared_extra(extra)
        undeclared = {module: files[:3] for module, files in imports.items()
                      if not {canonical(d) for d in owners.get(module, [])} & declared}
        assert undeclared == {}
        used = {canonical(d) for module in imports for d in owners.get(module, [])}
        assert declared_extra(extra) - used - set(FOR_A_LIBRARY) == set()
        assert {library.split(".")[0] for library in FOR_A_LIBRARY.values()} <= set(imports)


def test_dependencies_every_declared_runtime_dependency_is_imported():
    owners = packages_distributions()
    used = {canonical(d) for module in third_party_imports() for d in owners.get(module, [])}
    unused = declared_runtime() - used
    assert unused == set()
    assert not {"pandas", "plotly", "pyshark"} & declared_runtime()


def test_dependencies_runtime_is_locked_with_hashes_at_the_tested_versions():
    pins = locked()
    assert pins and all(hashes > 0 for _, hashes in pins.values())
    assert declared_runtime() <= set(pins)
    constraints = {canonical(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)$",
                                                              (REPO / "constraints.txt").read_text(), re.M)}
    disagree = {name: (version, constraints[name]) for name, (version, _) in pins.items()
                if name in constraints and constraints[name] != version}
    assert disagree == {}


def test_dependencies_code_of_its_own_environment_imports_only_what_that_lock_pins():
    """The addon and the project modules it pulls in run in mitmproxy's environment: every import is
    the standard library, that lock's pins, or more of our code that obeys the same rule."""
    for rel, lock in OWN_ENVIRONMENT.items():
        pins = {canonical(m[1]) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", (REPO / lock).read_text(), re.M)}
        todo, seen = [REPO / rel], set()
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # ``from hw.net import events``: the package and, where it is one, the submodule
                    modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names
                                              if (REPO / node.module.replace(".", "/") / f"{a.name}.py").exists())]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in RUNTIME_PACKAGES:
                        found = REPO / (module.replace(".", "/") + ".py")
                        todo.append(found if found.exists() else REPO / module.replace(".", "/") / "__init__.py")
                        continue
                    assert top in sys.stdlib_module_names or top == "__future__" or canonical(top) in pins, (
                        str(path.relative_to(REPO)), top)
