"""``python -m chatsdk``: the ``chatsdk`` command."""

from __future__ import annotations

from chatsdk._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
