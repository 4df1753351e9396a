"""The import graph of a package and the layering rules of docs/DESIGN (see test_architecture).

Kept apart from the test so the test can run the same checker on a small synthetic tree and
show that it fails when a forbidden import is added.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import statement's target, wherever it is (module level, in a function, in
    `if TYPE_CHECKING:`): the module and the names taken from it."""

    importer: str
    module: str
    names: tuple[str, ...]
    line: int


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> list[Import]:
    """Every import of the package at `root` that targets the package itself."""
    package = root.name
    modules = {_module_name(root, p) for p in root.rglob("*.py")}
    found: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        importer = _module_name(root, path)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [
                    Import(importer, alias.name, (), node.lineno)
                    for alias in node.names
                    if alias.name.split(".")[0] == package
                ]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = importer.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target.split(".")[0] != package:
                    continue
                names: list[str] = []
                for alias in node.names:
                    # `from pkg.domain import service` imports the module pkg.domain.service.
                    if f"{target}.{alias.name}" in modules:
                        found.append(Import(importer, f"{target}.{alias.name}", (), node.lineno))
                    else:
                        names.append(alias.name)
                if names:
                    found.append(Import(importer, target, tuple(names), node.lineno))
    return found


@dataclass(frozen=True)
class Rules:
    """The layering: which domain may import which, and what is an edge."""

    # Parts (second component: `studyhall.<part>`) that anything may import.
    base: frozenset[str]
    # Parts that are entry points (main, cli, …): nothing but other entries and edges import them.
    entries: frozenset[str]
    # Parts that are edges (web, compat): like routers, they use any domain; no domain imports them.
    edges: frozenset[str]
    # domain -> the other domains its non-edge modules may import.
    uses: Mapping[str, frozenset[str]]
    # domain -> the names of its models another domain may name (what its service hands out).
    public_types: Mapping[str, frozenset[str]]
    # (importer module, imported module) -> why it is tolerated for now.
    known_exceptions: Mapping[tuple[str, str], str]


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _leaf(module: str) -> str:
    return module.split(".")[-1]


def _is_edge(module: str, rules: Rules) -> bool:
    part = _part(module)
    return part in rules.entries or part in rules.edges or _leaf(module).endswith("router")


def violations(graph: Iterable[Import], rules: Rules) -> list[str]:
    """Every import the rules forbid and no known exception covers, as readable lines."""
    found: list[str] = []
    for imp in graph:
        if (imp.importer, imp.module) in rules.known_exceptions:
            continue
        problem = _problem(imp, rules)
        if problem:
            found.append(f"{imp.importer}:{imp.line} imports {imp.module}: {problem}")
    return found


def _problem(imp: Import, rules: Rules) -> str | None:
    source, target = _part(imp.importer), _part(imp.module)
    if _is_edge(imp.module, rules) and not _is_edge(imp.importer, rules):
        return "a domain never imports an entry module, a router, web or compat"
    if source == target or target in rules.base or not target:
        return None
    if target not in rules.uses and target not in rules.entries | rules.edges:
        return f"{target} is in no layer (add it to the rules)"
    leaf = _leaf(imp.module)
    if leaf == "repository":
        return f"another domain's repository (go through {target}'s service)"
    if _is_edge(imp.importer, rules):
        # Edges render what the services hand out, enums included (never a repository).
        return None
    if leaf == "models":
        if _leaf(imp.importer) in ("repository", "models"):
            return f"SQL over {target}'s tables (ask {target}'s service)"
        hidden = set(imp.names) - rules.public_types.get(target, frozenset())
        if hidden or not imp.names:
            shown = ", ".join(sorted(hidden)) or "the module"
            return f"{target}'s internals ({shown}; go through {target}'s service)"
    if source in rules.base and target not in rules.base:
        return f"{source} imports no domain"
    if target not in rules.uses.get(source, frozenset()):
        return f"{source} may not depend on {target} (dependency direction)"
    return None
