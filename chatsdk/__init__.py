"""chatsdk: an async client for OpenAI-style Chat Completions APIs."""
