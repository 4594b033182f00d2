"""The package's shape: no import cycles, no private modules of dependencies, one job per module.

An AST walk, so that every import counts: those under ``TYPE_CHECKING`` and those inside
functions as well as the ones at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chatsdk"
# Dependencies whose private modules must not be imported (and the standard library's helpers
# that are private in all but name).
GUARDED = ("httpx", "httpx_sse", "httpcore", "h11", "anyio", "sniffio", "json", "asyncio", "trio")
PRIVATE_IN_ALL_BUT_NAME = {"json.scanner", "json.decoder", "json.encoder"}
# A module is read in one sitting: at most this many lines of code (docstrings, comments and blank
# lines not counted, since examples in docstrings are wanted), and this many lines in all.
MAX_CODE_LINES = 300
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> list[str]:
    """Every module ``name`` imports, absolute, wherever the import statement stands."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.append(stem)
            # "from . import _json" imports a module, not a name.
            found += [f"{stem}.{alias.name}" for alias in node.names]
    return found


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = {target for target in imports_of(name) if target in MODULES and target != name}
        # Importing a submodule imports its package first; a package importing its own
        # submodules is the usual direction and not counted against the submodule.
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_walk_sees_every_kind_of_import() -> None:
    assert "chatsdk._call" in internal_graph()["chatsdk._streaming"]
    assert "chatsdk._json" in internal_graph()["chatsdk._events"]  # "from . import _json"
    # A function-level import counts: the client builds its pool on demand.
    assert "chatsdk._pool" in internal_graph()["chatsdk._client"]


def test_a_cycle_is_found_when_there_is_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package() -> None:
    assert find_cycle(internal_graph()) is None


PURE = [
    "chatsdk._sse",
    "chatsdk._batch_format",
    "chatsdk._events",
    "chatsdk._shapes",
    "chatsdk._inflate",
    "chatsdk._accumulate",
    "chatsdk._models",
    "chatsdk._messages",
    "chatsdk._model_info",
    "chatsdk._settings",
    "chatsdk._view",
    "chatsdk._params",
    "chatsdk._options",
    "chatsdk._retry",
    "chatsdk._exceptions",
    "chatsdk._json",
    "chatsdk._logging",
    "chatsdk._event_types",
    "chatsdk._stream_events",
    "chatsdk._structured",
    "chatsdk._parsed",
    "chatsdk._tools",
    "chatsdk._limits",
    "chatsdk._metrics",
    "chatsdk._text",
]
LAYER_2 = [
    "chatsdk._call",
    "chatsdk._reader",
    "chatsdk._streaming",
    "chatsdk._parsed_stream",
    "chatsdk._pool",
    "chatsdk._gate",
    "chatsdk._loops",
    "chatsdk._aiohttp",
]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_only_pure_modules_and_no_io(name: str) -> None:
    internal = internal_graph()[name]
    assert internal <= set(PURE) | {"chatsdk._version"}, internal - set(PURE)
    external = {target.split(".")[0] for target in imports_of(name)}
    assert not external & {"anyio", "httpcore", "trio", "asyncio", "socket"}, external


@pytest.mark.parametrize("name", LAYER_2)
def test_layer_two_never_imports_the_client_or_resources(name: str) -> None:
    assert not internal_graph()[name] & {"chatsdk._client", "chatsdk._completions"}


def test_the_tool_runner_never_imports_the_resource_that_starts_it() -> None:
    # client.chat.completions.run_tools() hands the runner its create(); no import back.
    assert "chatsdk._completions" not in internal_graph()["chatsdk._tool_runner"]
    assert "chatsdk._client" not in internal_graph()["chatsdk._tool_runner"]


def test_call_never_imports_the_stream() -> None:
    assert "chatsdk._streaming" not in internal_graph()["chatsdk._call"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_module_of_a_dependency(name: str) -> None:
    for target in imports_of(name):
        top, *rest = target.split(".")
        if top not in GUARDED:
            continue
        assert not any(part.startswith("_") for part in rest), f"{name} imports {target}"
        assert target not in PRIVATE_IN_ALL_BUT_NAME, f"{name} imports {target}"


def code_lines(tree: ast.Module, source: str) -> int:
    """Lines that hold code: not blank, not a comment, not inside a docstring."""
    in_docstrings: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                in_docstrings.update(range(value.lineno, (value.end_lineno or value.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in in_docstrings
    )


def test_code_lines_leave_out_docstrings_comments_and_blanks() -> None:
    source = '"""Doc.\n\nMore."""\n\n# note\nx = 1\n\n\ndef f():\n    """Doc."""\n    return x\n'
    assert code_lines(ast.parse(source), source) == 3


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_is_small_and_says_its_job_in_one_line(name: str) -> None:
    path = MODULES[name]
    source = path.read_text(encoding="utf-8")
    lines = source.count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by job"
    tree = ast.parse(source)
    code = code_lines(tree, source)
    assert code <= MAX_CODE_LINES, f"{path.name} has {code} lines of code; split it by job"
    docstring = ast.get_docstring(tree)
    if path.name in ("_version.py", "__main__.py") and lines < 10:
        return
    assert docstring, f"{name} has no docstring"
    first = docstring.splitlines()[0]
    assert first.endswith(".") and len(first) <= 100, f"{name}: {first!r}"
