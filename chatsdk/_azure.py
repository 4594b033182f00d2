"""``AsyncAzureChatClient``: Azure OpenAI's addresses, ``api-version`` and credentials.

Azure serves a model at a deployment's address, asks for ``?api-version=`` on every request, and
takes the key in an ``api-key`` header, or a Microsoft Entra ID token as ``Authorization: Bearer``.
Everything else (retries, deadlines, streams, errors) is the plain client's.

Example::

    client = chatsdk.AsyncAzureChatClient(
        azure_endpoint="https://my-resource.openai.azure.com",
        api_version="2024-10-21",
        azure_deployment="gpt-4o-mini",
    )
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ._client import DEFAULT_TIMEOUT, AsyncChatClient
from ._limits import RateLimit
from ._logging import protect
from ._options import NOT_GIVEN, TimeoutTypes
from ._retry import RetryPolicy

__all__ = ["AsyncAzureChatClient", "AzureTokenProvider"]

AzureTokenProvider = Callable[[], "str | Awaitable[str]"]
# Paths served at a deployment's address; others (``/models``) are the resource's.
_DEPLOYMENT_PATHS = frozenset({"/chat/completions"})


class AsyncAzureChatClient(AsyncChatClient):
    """A client for Azure OpenAI (and Azure AI Foundry's OpenAI endpoints).

    - ``azure_endpoint``: ``https://RESOURCE.openai.azure.com``; defaults to
      ``AZURE_OPENAI_ENDPOINT``.
    - ``api_version``: sent as ``?api-version=`` on every request; defaults to
      ``OPENAI_API_VERSION``. Required.
    - ``azure_deployment``: the deployment requests go to,
      ``{endpoint}/openai/deployments/{deployment}/chat/completions``. Left out, each request's
      ``model=`` names the deployment.
    - ``api_key``: sent as the ``api-key`` header; defaults to ``AZURE_OPENAI_API_KEY``.
    - ``azure_ad_token_provider``: instead of a key, a function (plain or async) returning a
      Microsoft Entra ID token, called before every attempt and sent as ``Authorization: Bearer``
      (``azure.identity``'s ``get_bearer_token_provider`` caches and refreshes it).

    The other settings are those of :class:`AsyncChatClient`. The key and the tokens are kept out
    of errors, logs and ``repr()`` as any key is.

    Example::

        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

        provider = get_bearer_token_provider(
            DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default"
        )
        async with chatsdk.AsyncAzureChatClient(
            azure_endpoint="https://my-resource.openai.azure.com",
            api_version="2024-10-21",
            azure_deployment="gpt-4o-mini",
            azure_ad_token_provider=provider,
        ) as client:
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
            )
    """

    def __init__(
        self,
        *,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        azure_deployment: str | None = None,
        api_key: str | None = None,
        azure_ad_token_provider: AzureTokenProvider | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = NOT_GIVEN,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        deadline: float | None = None,
        retry: RetryPolicy = NOT_GIVEN,
        telemetry: bool = True,
        max_concurrency: int | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        if azure_endpoint is None:
            azure_endpoint = os.environ.get("AZURE_OPENAI_ENDPOINT") or None
        if not azure_endpoint or not isinstance(azure_endpoint, str):
            raise ValueError(
                "azure_endpoint is needed: pass azure_endpoint='https://RESOURCE.openai.azure.com' "
                "or set the AZURE_OPENAI_ENDPOINT environment variable."
            )
        if api_version is None:
            api_version = os.environ.get("OPENAI_API_VERSION") or None
        if not api_version or not isinstance(api_version, str):
            raise ValueError(
                "api_version is needed for Azure OpenAI: pass api_version='2024-10-21' (or the "
                "version your resource supports) or set the OPENAI_API_VERSION environment "
                "variable."
            )
        if azure_deployment is not None and (
            not isinstance(azure_deployment, str) or not azure_deployment
        ):
            raise ValueError("azure_deployment must be a deployment's name, or left out.")
        if azure_ad_token_provider is not None:
            if not callable(azure_ad_token_provider):
                raise TypeError(
                    "azure_ad_token_provider must be a function returning a token, such as "
                    "azure.identity's get_bearer_token_provider(...)."
                )
            if api_key:
                raise ValueError(
                    "Pass either api_key or azure_ad_token_provider, not both: Azure takes one "
                    "credential."
                )
        elif api_key is None:
            api_key = os.environ.get("AZURE_OPENAI_API_KEY") or None
            if not api_key:
                raise ValueError(
                    "Azure OpenAI needs a credential: pass api_key= (or set the "
                    "AZURE_OPENAI_API_KEY environment variable) or azure_ad_token_provider=."
                )
        self.api_version = api_version
        self.azure_deployment = azure_deployment
        self._token_provider = azure_ad_token_provider
        base = f"{azure_endpoint.rstrip('/')}/openai?api-version={quote(api_version, safe='')}"
        kwargs: dict[str, Any] = {} if retry is NOT_GIVEN else {"retry": retry}
        super().__init__(
            # "": no key, and no falling back to OPENAI_API_KEY, which is not Azure's.
            api_key=api_key or "",
            base_url=base,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            http_client=http_client,
            deadline=deadline,
            telemetry=telemetry,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            **kwargs,
        )
        if azure_ad_token_provider is not None:
            self._authorize = self._set_token

    def _key_headers(self, api_key: str) -> dict[str, str]:
        return {"api-key": api_key}

    def _route(self, path: str, body: dict[str, Any] | None) -> str:
        if path not in _DEPLOYMENT_PATHS:
            return path
        deployment = self.azure_deployment or (body or {}).get("model")
        return f"/deployments/{quote(str(deployment), safe='')}{path}"

    async def _set_token(self, request: httpx.Request) -> None:
        provider = self._token_provider
        assert provider is not None
        token = provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise TypeError(
                f"azure_ad_token_provider returned {type(token).__name__}, not a token (a "
                "non-empty string)."
            )
        request.headers["Authorization"] = f"Bearer {token}"
        # What httpx's and httpcore's logs must not show, while the provider lives.
        protect(provider, (token,))

    def __repr__(self) -> str:
        return (
            f"<AsyncAzureChatClient base_url={str(self.base_url)!r} "
            f"deployment={self.azure_deployment!r} api_version={self.api_version!r}>"
        )
