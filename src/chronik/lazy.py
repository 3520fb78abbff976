"""Names a package exports but loads on first use (PEP 562), so importing it costs nothing."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

TYPE_CHECKING = False  # not typing's: `import chronik` must not import typing (chronik/__init__)
if TYPE_CHECKING:
    from typing import Any


def lazy_exports(package: str, sources: Mapping[str, str], public: Sequence[str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: each name in `sources` is imported from its
    module when first asked for, then cached in the package like an ordinary import."""

    def load(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted(public)

    return load, names
