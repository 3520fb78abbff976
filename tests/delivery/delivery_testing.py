"""Helpers the delivery tests share (imported as `delivery_testing`)."""

from __future__ import annotations

from pathlib import Path


def store_url(kind: str, directory: Path) -> str:
    from support.store_urls import store_url as fresh_url  # here: child processes import this module too

    return fresh_url(kind, directory, "delivery")
