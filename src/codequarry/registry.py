"""Where extractors come from: the built-in modules (an explicit list), plugin modules named with
``--plugin``, and installed packages declaring the entry-point group ``codequarry.extractors``.

Declarations are values, not registrations: a module is scanned for the FileExtractor and Operation
objects it defines, so importing a module has no side effect on any global state.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib.machinery import PathFinder
from types import ModuleType

from codequarry.api import FileExtractor, Operation
from codequarry.errors import DeclarationError, UsageError

BUILTIN_MODULES: tuple[str, ...] = (
    "codequarry.extractors.core",
    "codequarry.extractors.python.core.modules",
    "codequarry.extractors.python.core.defs",
    "codequarry.extractors.python.core.imports",
    "codequarry.extractors.python.core.calls",
    "codequarry.extractors.python.core.assignments",
    "codequarry.extractors.python.callgraph.operation",
    "codequarry.extractors.python.callgraph.facts",
    "codequarry.extractors.python.security.sqlstrings",
    "codequarry.extractors.python.security.envreads",
    "codequarry.extractors.python.security.findings",
    "codequarry.extractors.python.web.routes",
    "codequarry.extractors.python.web.operation",
    "codequarry.extractors.python.models.classes",
    "codequarry.extractors.python.models.operations",
    "codequarry.extractors.python.tasks.definitions",
    "codequarry.extractors.python.tasks.testsuite",
    "codequarry.extractors.python.tasks.testcases",
    "codequarry.extractors.units",
    "codequarry.extractors.blobs",
    "codequarry.extractors.treesitter.extractors",
    # Python structural layers (python.layers.*): opt-in by measured cost, see docs/tables/layers.md
    "codequarry.extractors.layers.manifest",
    "codequarry.extractors.layers.symtables",
    "codequarry.extractors.layers.bytecode",
    "codequarry.extractors.layers.ast_nodes",
    "codequarry.extractors.layers.libcst_layer",
)
ENTRY_POINT_GROUP = "codequarry.extractors"


@dataclass(frozen=True)
class Catalog:
    """Everything available, by name, with where each came from."""

    extractors: dict[str, FileExtractor]
    operations: dict[str, Operation]
    sources: dict[str, str]  # name -> "built in" | "plugin module X" | "entry point X"


def _import(module_name: str) -> ModuleType:
    """Import a plugin module; one that is not installed may live in the current folder (looked up
    last, so that it can never shadow an installed module)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = module_name.split(".")[0]
        cwd = os.getcwd()
        if (
            exc.name != top
            or not (os.path.exists(os.path.join(cwd, top + ".py")) or os.path.isdir(os.path.join(cwd, top)))
            or cwd in sys.path
        ):
            raise
        sys.path.append(cwd)
        return importlib.import_module(module_name)


def _members(module_name: str) -> list[FileExtractor | Operation]:
    try:
        module = _import(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                f"plugin module '{module_name}' cannot be imported: no module named '{exc.name}'. "
                "Is it installed, or on PYTHONPATH?"
            ) from None
        raise UsageError(f"plugin module '{module_name}' failed to import: {exc}") from None
    except DeclarationError:
        raise
    except Exception as exc:
        raise UsageError(
            f"plugin module '{module_name}' failed to import: {type(exc).__name__}: {exc}"
        ) from None
    found: list[FileExtractor | Operation] = []
    for attr, value in vars(module).items():
        if isinstance(value, FileExtractor | Operation) and value.module == module_name:
            found.append(replace(value, attribute=attr))
    return found


def may_declare_entry_points() -> bool:
    """False only when no installed distribution can declare an entry point of our group.

    ``importlib.metadata`` costs a run ~0.025 s of CPU (its import, then parsing every
    distribution's ``entry_points.txt``), and almost no environment has a plugin. Its distributions
    come from the folders of ``sys.path`` (the ``*.dist-info`` and ``*.egg-info`` folders in each)
    when ``PathFinder`` is the only finder that finds distributions: then a group can be declared
    only by an ``entry_points.txt`` in one of those folders that contains the group's name, and a
    plain read of those files answers. Anything else (another finder, a zip or an egg on the path,
    a metadata file that is not a folder) is answered by ``importlib.metadata`` itself."""
    finders = [f for f in sys.meta_path if hasattr(f, "find_distributions")]
    if finders != [PathFinder]:
        return True
    group = ENTRY_POINT_GROUP.encode()
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return True  # a zip file on the path
        except OSError:
            continue  # absent: no distribution there
        for name in names:
            low = name.lower()
            if low.endswith(".egg"):
                return True
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            meta = os.path.join(folder, name)
            if not os.path.isdir(meta):
                return True
            try:
                with open(os.path.join(meta, "entry_points.txt"), "rb") as fh:
                    if group in fh.read():
                        return True
            except FileNotFoundError:
                continue
            except OSError:
                return True
    return False


def load_catalog(plugins: Iterable[str] = (), *, entry_points_enabled: bool = True) -> Catalog:
    """Collect built-ins, plugin modules and entry points; two declarations of one name are an error."""
    origins: list[tuple[str, str]] = [(m, "built in") for m in BUILTIN_MODULES]
    if entry_points_enabled and may_declare_entry_points():
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origins.append((ep.value.split(":")[0], f"entry point {ep.name} ({ep.value})"))
    origins.extend((m, f"plugin module {m}") for m in plugins)
    extractors: dict[str, FileExtractor] = {}
    operations: dict[str, Operation] = {}
    sources: dict[str, str] = {}
    seen_modules: set[str] = set()
    for module_name, origin in origins:
        if module_name in seen_modules:
            continue
        seen_modules.add(module_name)
        for member in _members(module_name):
            if member.name in sources:
                raise DeclarationError(
                    f"'{member.name}' is declared twice: by {sources[member.name]} and by {origin}"
                )
            sources[member.name] = origin
            if isinstance(member, FileExtractor):
                extractors[member.name] = member
            else:
                operations[member.name] = member
    return Catalog(extractors=extractors, operations=operations, sources=sources)
