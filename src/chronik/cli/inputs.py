"""Turning option text into library values, and library fields into option names.

Parsing is strict and lives in the core (codec.parse_json_text, codec.parse_time); this module
only reads the text from where the option says (inline, @file, - for stdin).

The library names fields in its errors (`ValidationError(field, problem, fix)`); the CLI names
options. `options_named` is the one place that maps one to the other, for every command: a
field is named after the click parameter of the same name (`--to` is declared as
`click.option("--to", "to_position")`, so the field `to_position` reads `--to`), and
FIELD_OPTIONS covers fields no parameter is named after. The `chronik` group applies it to
every ValidationError a command lets through.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import click

from chronik import codec
from chronik.errors import ChronikError, LimitExceeded, ValidationError
from chronik.limits import DEFAULT_LIMITS
from chronik.model import Expect, Expectation

# Read at most this much from a file or stdin for one option: the event limit plus room for
# whitespace, so an oversized input is refused without reading all of it.
MAX_OPTION_INPUT_BYTES = 4 * DEFAULT_LIMITS.max_event_bytes

# Library fields that no command parameter is named after, and the option that sets them.
FIELD_OPTIONS = {"url": "--ledger"}
# Library fields nested in a value the command builds from several options: "filter.since" is
# set by the parameter `since`.
NESTING_FIELDS = ("filter.",)

# A library error the CLI shows (the renamed copy keeps its class).
E = TypeVar("E", bound=ChronikError)


class FieldError(Protocol):
    """An error that names a field as ValidationError does."""

    field: str
    problem: str
    fix: str

EXPECT_WORDS = {member.value: member for member in Expect}
EXPECT_FIX = "use any, no-stream, exists or a version number such as 3"


def json_object_option(value: str | None, option: str) -> dict[str, Any]:
    """The JSON object given as text, @file or - (stdin); {} when the option is absent."""
    if value is None:
        return {}
    parsed = codec.parse_json_text(_option_input(value, option), option, DEFAULT_LIMITS.max_depth)
    if not isinstance(parsed, dict):
        raise ValidationError(option, f"must be a JSON object, got {_json_kind(parsed)}",
                              f"""wrap it in an object, e.g. {option} '{{"value": ...}}'""")
    return parsed


def _option_input(value: str, option: str) -> bytes | str:
    if value == "-":
        return _read_bounded(sys.stdin.buffer, option, "stdin")
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, "rb") as file:
                return _read_bounded(file, option, path)
        except OSError as exc:
            raise ValidationError(option, f"cannot read {path!r}: {exc.strerror}",
                                  "give an existing file after @, or JSON text") from None
    return value


def _read_bounded(file: Any, option: str, source: str) -> bytes:
    raw = file.read(MAX_OPTION_INPUT_BYTES + 1)
    if len(raw) > MAX_OPTION_INPUT_BYTES:
        raise LimitExceeded(option, "max_option_input_bytes", MAX_OPTION_INPUT_BYTES, len(raw),
                            f"{source} is too large for one event; store large payloads elsewhere")
    return raw


def _json_kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def expectation_option(value: str) -> Expectation:
    """--expect: any | no-stream | exists | N (the exact current version; 0 = no stream)."""
    word = value.strip().lower()
    if word in EXPECT_WORDS:
        return EXPECT_WORDS[word]
    if word.isascii() and word.isdigit():
        return int(word)
    raise ValidationError("--expect", f"{value!r} is not an expectation", EXPECT_FIX)


def time_option(value: str | None, option: str) -> datetime | None:
    """--since/--until: RFC 3339 with a zone, a date, or an age such as 2h or 7d."""
    return None if value is None else codec.parse_time(value, option)


def options_named(error: E, commands: Sequence[click.Command]) -> E:
    """The same error naming the option (or ARGUMENT) of `commands` (the invoked chain, outermost
    first) that sets its field; unchanged when none does (the field is already an option, or
    the error is about something else). Any error that names a field the way ValidationError
    does (`field`, `problem`, `fix`: e.g. lifecycle.copy.CopyRefused) is renamed; others are
    returned as they are."""
    if not names_a_field(error):
        return error
    renames = dict(FIELD_OPTIONS)
    for command in commands:
        for param in command.params:
            if param.name:
                renames[param.name] = parameter_label(param)
    given = cast(FieldError, error).field
    field = given
    for prefix in NESTING_FIELDS:
        if field.startswith(prefix) and _owner(field[len(prefix):], renames):
            field = field[len(prefix):]
    if field != given:
        error = _with_field(error, field)
    return rename_field(error, renames)


def _owner(field: str, renames: Mapping[str, str]) -> bool:
    return any(field == name or field.startswith((name + ".", name + "[")) for name in renames)


def parameter_label(param: click.Parameter) -> str:
    """How the command line writes a parameter: its long option, or the argument's metavar."""
    if isinstance(param, click.Option):
        long = [opt for opt in param.opts if opt.startswith("--")]
        return (long or param.opts)[0]
    return param.human_readable_name


def rename_field(error: E, renames: Mapping[str, str]) -> E:
    """The same error naming the command-line option instead of the library's field.

    `renames` maps a library field to its option; a nested path under the field
    (field.key, field[0]) keeps its tail: "order:1.events[0].data.a" -> "--data.a".
    """
    given = cast(FieldError, error).field
    for field, option in renames.items():
        if given == field or given.startswith((field + ".", field + "[")):
            return _with_field(error, option + given[len(field):])
    return error


def names_a_field(error: Exception) -> bool:
    return all(isinstance(getattr(error, name, None), str) for name in ("field", "problem", "fix"))


def _with_field(error: E, field: str) -> E:
    # Same class and attributes (LimitExceeded keeps its limit), new field and message (the
    # message is built as ValidationError builds it: "field: problem (fix)").
    renamed = type(error).__new__(type(error))
    renamed.__dict__.update(error.__dict__)
    named = cast(FieldError, renamed)
    named.field = field
    renamed.args = (f"{field}: {named.problem}" + (f" ({named.fix})" if named.fix else ""),)
    return renamed
