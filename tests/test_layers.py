"""Imports go one way (DESIGN.md, "Layers"): no floor of the product imports a floor above it.

    audiencesync/proofs                          the demo and the benchmark        (top)
    audiencesync (settings, urls, ...)           the site: wires everything
    audiencesync/sync                            the engine
    canvas                                       canvases, steps, the outbox, entry
    partners                                     connections, clients, identifiers
    audiencesync/workspaces, accounts, errors,   the ground floor
    confirm
    partners/sandbox                             the partners' side: imports nothing of the
                                                 product; only the site mounts it and the
                                                 proofs drive it

The check reads the source (``ast``), so it sees imports inside functions too, and
dotted paths handed to ``import_module``, ``include`` and django-q's ``async_task`` and
``schedule``. Templates count: a module that names a template (a view rendering it, an
inclusion tag) takes on every tag library that template, or one it extends or includes,
``{% load %}``s, and that library's floor is checked like an import.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("audiencesync", "canvas", "partners")
SANDBOX = "partners.sandbox"
# Bottom first; the longest matching prefix decides a module's floor.
FLOORS = (
    ("the ground floor", ("audiencesync.workspaces", "audiencesync.accounts",
                          "audiencesync.confirm", "audiencesync.errors")),
    ("partners", ("partners",)),
    ("canvas", ("canvas",)),
    ("the engine", ("audiencesync.sync",)),
    ("the site", ("audiencesync",)),
    ("the proofs", ("audiencesync.proofs",)),
)
# The floors from which the sandbox may be reached: the site mounts it, the proofs drive it.
SANDBOX_REACHED_FROM = ("the site", "the proofs")
# Calls whose first argument is a dotted path the callee imports.
_PATH_TAKING_CALLS = frozenset({"import_module", "include", "async_task", "schedule"})
_TEMPLATE_NAME = re.compile(r"[\w./-]+\.html")
_LOAD = re.compile(r"{%\s*load\s+([^%]+?)\s*%}")
_EXTENDS_OR_INCLUDE = re.compile(r"""{%\s*(?:extends|include)\s+["']([^"']+)["']""")


@dataclass(frozen=True)
class Floor:
    name: str
    level: int  # -1: the sandbox, which stands apart


def floor_of(module: str) -> Floor | None:
    """The floor of a module of the product; None for anything else (Django, libraries)."""
    if module == SANDBOX or module.startswith(SANDBOX + "."):
        return Floor("the sandbox", -1)
    best: tuple[int, Floor] | None = None
    for level, (name, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > best[0]):
                best = (len(prefix), Floor(name, level))
    return best[1] if best else None


def crossing(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``; None when it may."""
    source, target = floor_of(importer), floor_of(imported)
    if source is None or target is None or source == target:
        return None
    if source.level == -1:
        return "the sandbox imports nothing of the product"
    if target.level == -1:
        if source.name in SANDBOX_REACHED_FROM:
            return None
        return "only the site and the proofs reach the sandbox"
    if target.level > source.level:
        return f"{source.name} imports {target.name}, a floor above it"
    return None


def imported_names(*, module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``source`` (the text of ``module``) imports."""
    names = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                if len(base) < 1 or node.level > len(package):
                    names.append((node.lineno, f"<relative import above {module}>"))
                    continue
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            # ``from canvas import views`` imports the module canvas.views; ``from
            # audiencesync import errors`` is the ground floor's errors, not the site.
            submodules = [f"{stem}.{alias.name}" for alias in node.names
                          if f"{stem}.{alias.name}" in _module_names()]
            names += [(node.lineno, name) for name in submodules or [stem]]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and _call_name(node.func) in _PATH_TAKING_CALLS):
            names.append((node.lineno, node.args[0].value))
    return names


@functools.cache
def _module_names() -> frozenset[str]:
    return frozenset(module for module, _ in _product_modules())


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def template_names(source: str) -> set[str]:
    """Template names a module's source names as string constants."""
    return {node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and _TEMPLATE_NAME.fullmatch(node.value)}


def loaded_libraries(template: str, read_template) -> set[str]:
    """Tag libraries ``template`` loads, itself or through what it extends and includes;
    ``read_template(name)`` gives a template's text, or None if the product has none."""
    seen, todo, libraries = set(), [template], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = read_template(name)
        if text is None:
            continue
        for match in _LOAD.finditer(text):
            words = match.group(1).split()
            # "{% load name from library %}" loads one library, named last.
            libraries.update(words[-1:] if "from" in words else words)
        todo += _EXTENDS_OR_INCLUDE.findall(text)
    return libraries


def _product_modules() -> list[tuple[str, Path]]:
    modules = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            modules.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return modules


def _template_dirs() -> list[Path]:
    return [REPO_ROOT / "templates",
            *sorted(p for package in PRODUCT_PACKAGES
                    for p in (REPO_ROOT / package).rglob("templates") if p.is_dir())]


def _read_template(name: str) -> str | None:
    for directory in _template_dirs():
        if (directory / name).is_file():
            return (directory / name).read_text()
    return None


def _tag_libraries() -> dict[str, str]:
    """Library name -> the module that defines it, for the product's tag libraries."""
    return {module.rsplit(".", 1)[1]: module for module, path in _product_modules()
            if path.parent.name == "templatetags" and path.name != "__init__.py"}


def layer_crossings() -> list[str]:
    libraries = _tag_libraries()
    found = []
    for module, path in _product_modules():
        source = path.read_text()
        where = path.relative_to(REPO_ROOT)
        for line, name in imported_names(module=module, source=source,
                                         is_package=path.name == "__init__.py"):
            if name.startswith("<"):
                found.append(f"{where}:{line}: {name}")
            elif reason := crossing(module, name):
                found.append(f"{where}:{line}: imports {name}: {reason}")
        for template in sorted(template_names(source)):
            for library in sorted(loaded_libraries(template, _read_template)):
                if library in libraries and (reason := crossing(module, libraries[library])):
                    found.append(f"{where}: renders {template}, which loads {library} "
                                 f"({libraries[library]}): {reason}")
    return found


def test_no_floor_imports_a_floor_above_it():
    assert layer_crossings() == []


def test_every_module_of_the_product_has_a_floor():
    assert [module for module, _ in _product_modules() if floor_of(module) is None] == []


@pytest.mark.parametrize(("module", "source", "says"), [
    ("audiencesync.workspaces.urls", "from canvas import api_key_views",
     "the ground floor imports canvas"),
    ("audiencesync.workspaces.views", "def f():\n    from ..sync import engine",
     "the ground floor imports the engine"),
    ("partners.services", "import canvas.models", "partners imports canvas"),
    ("canvas.services.entry", "from audiencesync.sync.engine import sync_next",
     "canvas imports the engine"),
    ("canvas.views", "async_task('audiencesync.sync.tasks.dispatch')",
     "canvas imports the engine"),
    ("audiencesync.sync.engine", "from audiencesync.proofs import bench",
     "the engine imports the proofs"),
    ("audiencesync.sync.engine", "from audiencesync import urls", "the engine imports the site"),
    ("partners.sandbox.tiktok", "from partners.http import PartnerHttp",
     "the sandbox imports nothing"),
    ("partners.sandbox.tiktok", "from ..http import PartnerHttp", "the sandbox imports nothing"),
    ("partners.tiktok", "from partners.sandbox import store", "only the site and the proofs"),
])
def test_the_check_catches_an_import_from_above(module, source, says):
    reasons = [crossing(module, name) for _, name in imported_names(module=module, source=source)]
    assert any(reason and says in reason for reason in reasons)


@pytest.mark.parametrize(("module", "source"), [
    ("canvas.services.entry", "from audiencesync.workspaces import rows"),
    ("audiencesync.sync.engine", "from canvas.models import SyncItem\nimport partners.base"),
    ("audiencesync.urls", "include('partners.sandbox.urls')"),
    ("audiencesync.proofs.bench", "from partners.sandbox.bench import bench_run"),
    ("partners.sandbox.tiktok", "from .store import record\nfrom django.http import JsonResponse"),
    ("audiencesync.workspaces.views", "from audiencesync.errors import ServiceError"),
])
def test_the_check_lets_an_import_from_below_pass(module, source):
    assert [crossing(module, name) for _, name in imported_names(module=module, source=source)
            if crossing(module, name)] == []


def test_the_check_catches_a_tag_library_loaded_from_below():
    templates = {
        "workspaces/page.html": '{% extends "base.html" %}{% include "canvas/_part.html" %}',
        "base.html": "{% load static %}",
        "canvas/_part.html": "{% load humanize canvas_extras %}",
    }
    source = 'render(request, "workspaces/page.html", {})'
    loaded = set()
    for template in template_names(source):
        loaded |= loaded_libraries(template, templates.get)
    assert loaded == {"static", "humanize", "canvas_extras"}
    assert crossing("audiencesync.workspaces.views", "canvas.templatetags.canvas_extras") == (
        "the ground floor imports canvas, a floor above it")
