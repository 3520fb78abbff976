"""Handlers imported by the CLI tests as MODULE:NAME."""

applied = []


def ok(event):
    applied.append(event.position)


def fails(event):
    raise RuntimeError("still broken")
