"""Every public name is documented, shows an example, and has an entry in the API reference.

Docstrings are read from the source with ``ast``, as the reference (mkdocstrings) reads them, so
that module constants and type aliases count too: their docstring is the string literal that
follows the assignment.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chatsdk", "chatsdk.testing")
UNDOCUMENTED = {"__version__"}

# Names whose docstring still lacks an example, all defined in modules other changes are
# editing (chatsdk/_client.py, _params.py, chatsdk/testing/_server.py, _app.py, _validate.py).
# Each gets its example there; then its entry is removed. An entry whose docstring has an
# example already fails the test, so this set only shrinks. Empty it when the last one lands.
PENDING_EXAMPLES = {
    "chatsdk.testing.LocalServer",  # chatsdk/testing/_server.py (a code block, no Example label)
    "chatsdk.testing.ROLES",  # chatsdk/testing/_validate.py (no docstring yet)
    "chatsdk.testing.RecordedRequest",  # chatsdk/testing/_app.py
    "chatsdk.testing.run",  # chatsdk/testing/_server.py
    "chatsdk.testing.serve",  # chatsdk/testing/_server.py (a code block, no Example label)
}

# Public names and members without any docstring, in those same modules; same rules.
PENDING_DOCSTRINGS = {
    "chatsdk.testing.LocalServer.faults",  # chatsdk/testing/_server.py
    "chatsdk.testing.LocalServer.port",  # chatsdk/testing/_server.py
    "chatsdk.testing.LocalServer.requests",  # chatsdk/testing/_server.py
    "chatsdk.testing.ROLES",  # chatsdk/testing/_validate.py
}

# "Example::" or "Examples:" closing a line, or a doctest.
EXAMPLE = re.compile(r"\bExamples?::?[ \t]*$|^[ \t]*>>>", re.MULTILINE)


@functools.cache
def _module_tree(module: str) -> ast.Module:
    path = ROOT.joinpath(*module.split("."))
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.parse(source.read_text(encoding="utf-8"))


def _defining_modules(package: str) -> dict[str, str]:
    """Public name -> the module that defines it, read from the package's relative imports."""
    where: dict[str, str] = {}
    for node in _module_tree(package).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                where[alias.asname or alias.name] = f"{package}.{node.module}"
    return where


def _docstring(module: str, name: str) -> str | None:
    """The docstring of ``name`` in ``module``: a def's or class's, or the string after an
    assignment."""
    body = _module_tree(module).body
    for position, node in enumerate(body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == name:
                return ast.get_docstring(node)
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            after = body[position + 1] if position + 1 < len(body) else None
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                return inspect.cleandoc(after.value.value)
            return None
    raise AssertionError(f"{name} is not defined at the top level of {module}")


def public_names() -> Iterator[tuple[str, Any, str | None]]:
    """(qualified name, object, docstring) for every public name of chatsdk and chatsdk.testing."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        where = _defining_modules(package)
        for name in module.__all__:
            if name in UNDOCUMENTED:
                continue
            assert name in where, f"{package}.{name} is not imported from a module of {package}"
            yield f"{package}.{name}", getattr(module, name), _docstring(where[name], name)


def public_members(qualname: str, cls: type) -> Iterator[tuple[str, str | None]]:
    """(qualified name, docstring) of a class's public methods and properties, inherited ones
    from chatsdk's own (private) base classes included."""
    seen: set[str] = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("chatsdk"):
            continue
        for name, value in vars(base).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if isinstance(value, (property, functools.cached_property)) or inspect.isfunction(
                value
            ):
                yield f"{qualname}.{name}", value.__doc__


def _documented(doc: str | None) -> bool:
    return bool(doc and doc.strip())


def _pending_message(kind: str, missing: set[str], pending: set[str]) -> str:
    lines = []
    if missing - pending:
        lines.append(f"without {kind}: {sorted(missing - pending)}")
    if pending - missing:
        lines.append(f"remove from PENDING: they have {kind} now: {sorted(pending - missing)}")
    return "; ".join(lines)


def test_every_public_name_and_member_has_a_docstring() -> None:
    missing = set()
    for qualname, obj, doc in public_names():
        if not _documented(doc):
            missing.add(qualname)
        if inspect.isclass(obj):
            missing.update(q for q, d in public_members(qualname, obj) if not _documented(d))
    assert missing == PENDING_DOCSTRINGS, _pending_message(
        "a docstring", missing, PENDING_DOCSTRINGS
    )


def test_every_public_name_shows_an_example() -> None:
    missing = {qualname for qualname, _, doc in public_names() if not EXAMPLE.search(doc or "")}
    assert missing == PENDING_EXAMPLES, _pending_message("an example", missing, PENDING_EXAMPLES)


def test_every_public_name_has_a_reference_entry() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs/reference").glob("*.md"))
    entries = set(re.findall(r"^::: ([\w.]+)", pages, re.MULTILINE))
    names = {qualname for qualname, _, _ in public_names()}
    assert names - entries == set(), "add a '::: name' entry to a page of docs/reference/"
    extra = entries - names - {"chatsdk.testing.pytest_plugin"}
    assert extra == set(), "docs/reference/ documents names that are not public"
