"""Reducers named as MODULE:NAME (the CLI's --reducer), imported from the user's code.

As uvicorn does for MODULE:APP, the current directory is put on sys.path first, so
`chronik replay order:1 --reducer myapp.reducers:OrderSummary` finds ./myapp/reducers.py. NAME
may be dotted (`module:Class.attribute`) and may be:

- a Reducer instance, or a Reducer subclass (instantiated without arguments);
- a function of (state, event): wrapped with Reducer.from_function (initial state None, name
  the function's name, version 1);
- a function of no arguments that returns a Reducer (a factory).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any

from chronik.derive.reducer import Reducer, check_reducer
from chronik.errors import ValidationError

SPEC_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*")
SPEC_FIX = "use MODULE:NAME, e.g. myapp.reducers:OrderSummary"


def import_reducer(spec: str, field: str = "reducer") -> Reducer:
    """The Reducer that `spec` (MODULE:NAME) names, or ValidationError naming `field`."""
    if not isinstance(spec, str) or not SPEC_PATTERN.fullmatch(spec.strip()):
        raise ValidationError(field, f"{spec!r} is not MODULE:NAME", SPEC_FIX)
    module_name, _, attribute = spec.strip().partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ValidationError(field, f"no module named {exc.name!r} (looked in {os.getcwd()} and "
                                  "sys.path)", "run from your project's directory, or set PYTHONPATH") from None
        raise ValidationError(field, f"importing {module_name!r} failed: {exc}",
                              "fix the import error in your module") from None
    except Exception as exc:  # the user's module raised while importing: report it, with its class
        raise ValidationError(field, f"importing {module_name!r} failed: {type(exc).__name__}: {exc}",
                              "fix the error in your module") from None
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValidationError(field, f"module {module_name!r} has no attribute {attribute!r}",
                                  "check the name after the colon") from None
        found = getattr(found, part)
    return check_reducer(_as_reducer(found, spec, field), field)


def _as_reducer(found: Any, spec: str, field: str) -> Any:
    if isinstance(found, Reducer) or (isinstance(found, type) and issubclass(found, Reducer)):
        return found
    if callable(found) and not isinstance(found, type):
        required = _required_parameters(found)
        if required == 2:
            return Reducer.from_function(found)
        if required == 0:
            made = found()
            if isinstance(made, Reducer):
                return made
            raise ValidationError(field, f"{spec} returned {type(made).__name__}, not a Reducer",
                                  "return a chronik.Reducer from the factory")
    raise ValidationError(field, f"{spec} is a {type(found).__name__}, not a Reducer or a function "
                          "of (state, event)", "point at a chronik.Reducer, a Reducer subclass, or a "
                          "function fold(state, event) -> state")


def _required_parameters(function: Any) -> int | None:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(1 for p in parameters if p.default is p.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
