"""Helpers the delivery tests share (imported as `delivery_testing`)."""

from __future__ import annotations

from pathlib import Path


def store_url(kind: str, directory: Path) -> str:
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return "sqlite:///" + str(directory / "ledger.db").lstrip("/")
    if kind == "jsonl":
        return "jsonl:///" + str(directory / "ledger.jsonl").lstrip("/")
    from support.postgres_server import shared_server

    return shared_server().schema_url("delivery")
