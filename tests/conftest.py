"""Shared fixtures: both anyio backends, and validation against the OpenAI spec."""

from __future__ import annotations

import copy
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SPEC_RELATIVE = Path("shared/openapi/openai-openapi.yaml")
# CHATSDK_BACKEND=aiohttp runs the suite with every client that makes its own HTTP client on the
# aiohttp backend (.ci/aiohttp); chatsdk reads the variable itself, as a user's program would.
ON_AIOHTTP = os.environ.get("CHATSDK_BACKEND") == "aiohttp"
ASYNCIO_ONLY = "backend='aiohttp' runs on asyncio only: trio is tested on the httpx backend"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On the aiohttp backend, skip what reads or fakes httpx's own transport, saying why."""
    if not ON_AIOHTTP:
        return
    for item in items:
        marker = item.get_closest_marker("httpx_only")
        module = getattr(item, "module", None)
        if marker is not None:
            reason = marker.args[0] if marker.args else "reads httpx's own transport"
        elif module is not None and "respx" in vars(module):
            reason = "respx fakes httpx's own transport, which the aiohttp backend does not use"
        else:
            continue
        item.add_marker(pytest.mark.skip(reason=f"httpx backend only: {reason}"))


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job with Ctrl-C ignored, and an ignored signal stays ignored
    # in every process started from it. The tests that press Ctrl-C in a child process need it
    # delivered as from a terminal, however the suite was started: a handler here (unlike
    # "ignore") is reset to the default in each child, where Python turns it into
    # KeyboardInterrupt.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    if ON_AIOHTTP and request.param == "trio":
        pytest.skip(ASYNCIO_ONLY)
    return str(request.param)


def _find_spec() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / SPEC_RELATIVE
        if candidate.is_file():
            return candidate
    return None


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` becomes JSON Schema's "this, or null"."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@pytest.fixture(scope="session")
def spec_validate() -> Callable[[str, Any], None]:
    """``validate(schema_name, instance)`` against ``#/components/schemas/<schema_name>``."""
    path = _find_spec()
    if path is None:
        pytest.skip(f"OpenAPI spec not found: no {SPEC_RELATIVE} above {Path(__file__).parent}")
    import jsonschema
    import referencing
    import yaml
    from referencing.jsonschema import DRAFT202012

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        document = yaml.load(f, Loader=loader)
    document = _nullable_to_json_schema(document)
    uri = "urn:openai-openapi"
    registry = referencing.Registry().with_resource(uri, DRAFT202012.create_resource(document))
    validators: dict[str, Any] = {}

    def validate(name: str, instance: Any) -> None:
        if name not in validators:
            validators[name] = jsonschema.Draft202012Validator(
                {"$ref": f"{uri}#/components/schemas/{name}"}, registry=registry
            )
        validators[name].validate(copy.deepcopy(instance))

    return validate
