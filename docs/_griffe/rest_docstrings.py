"""A Griffe extension that turns chatsdk's reST-flavoured docstrings into Markdown for mkdocs.

chatsdk's docstrings are written for ``help()`` and editors: ``Example::`` literal blocks,
``>>>`` doctests and ``:class:`Name``` roles. Markdown renders none of these well, so before the
docstrings are parsed this extension rewrites them:

- a paragraph ending in ``::`` ends in ``:`` and the indented block after it becomes a fenced
  Python block (a lone ``Example::`` becomes an "Example:" label);
- a run of ``>>>`` lines and their output becomes a fenced ``pycon`` block;
- ``:class:`X```, ``:func:`X``` and the other roles become code, linked to the reference entry
  when ``X`` is a public name of ``chatsdk`` or ``chatsdk.testing``.

The docstrings in the source stay as they are. Loaded from mkdocs.yml (``extensions:``).
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import griffe

_ROOT = Path(__file__).resolve().parents[2]
_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|obj|mod):`~?([\w.]+)(?:\(\))?`")
_EXAMPLE_LABEL = re.compile(r"^(\s*)(Examples?)::\s*$")


def _public_names(init: Path) -> list[str]:
    """The names listed in ``__all__`` of a package's ``__init__.py``, read without importing."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            return [
                e.value
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return []


def _targets() -> dict[str, str]:
    """Short and full spellings of every public name, mapped to the reference identifier."""
    targets: dict[str, str] = {}
    for package in ("chatsdk", "chatsdk.testing"):
        init = _ROOT.joinpath(*package.split("."), "__init__.py")
        for name in _public_names(init):
            if name.startswith("_"):
                continue
            targets.setdefault(name, f"{package}.{name}")
            targets[f"{package}.{name}"] = f"{package}.{name}"
    return targets


_TARGETS = _targets()


def _role(match: re.Match[str]) -> str:
    name = match.group(1)
    head, _, rest = name.partition(".")
    if name in _TARGETS:
        return f"[`{name}`][{_TARGETS[name]}]"
    if head in _TARGETS and rest:
        return f"[`{name}`][{_TARGETS[head]}.{rest}]"
    return f"`{name}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rest_to_markdown(text: str) -> str:
    """Rewrite one docstring; Markdown that is already plain is left as it is."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = _ROLE.sub(_role, lines[i])
        stripped = line.strip()
        pad = " " * _indent(line)
        if stripped.startswith(">>>"):
            # A doctest and its output run to the next blank line.
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(pad) :])
                i += 1
            out += [f"{pad}```pycon", *(pad + b for b in block), f"{pad}```"]
            continue
        if stripped.endswith("::"):
            label = _EXAMPLE_LABEL.match(line)
            if label:
                out.append(f"{pad}**{label.group(2)}:**")
            elif stripped != "::":
                out.append(line[:-1])
            # The literal block: every following line that is blank or indented deeper.
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
                block.append(lines[i])
                i += 1
            code = textwrap.dedent("\n".join(block)).strip("\n")
            out += ["", f"{pad}```python", *(pad + c if c else c for c in code.splitlines())]
            out += [f"{pad}```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip("\n")


class RestDocstrings(griffe.Extension):
    """Rewrites the docstring of every object as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)
