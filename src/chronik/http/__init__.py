"""chronik over HTTP: the JSON API, the live event stream, metrics and the web UI (docs/http.md).

`create_app(ledger_url, ...)` builds the ASGI app (Starlette); `chronik serve` runs it with
uvicorn. Needs the `http` extra: pip install 'chronik[http]'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chronik.http.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `import chronik.http.config` does not pull in Starlette.
    if name == "create_app":
        from chronik.http.app import create_app

        return create_app
    raise AttributeError(name)
