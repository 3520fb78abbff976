"""`chronik tail`, `chronik parked ...` and `chronik projections ...`: thin wrappers over
chronik.derive (Ledger.subscribe, parking, ProjectionRunner)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from chronik.cli.inputs import rename_field
from chronik.cli.output import print_table, write_error_line, write_events, write_json_line, write_line
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.model import Filter

TAIL_OPTION_NAMES = {"after": "--after", "filter.types": "--type", "filter.categories": "--category",
                     "name": "--name"}


def import_object(spec: str, option: str) -> Any:
    """`MODULE:NAME` imported from the user's code (the current directory is on sys.path, as
    uvicorn does); errors name the option."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValidationError(option, f"{spec!r} is not MODULE:NAME", f"e.g. {option} myapp.handlers:on_event")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(option, f"cannot import module {module_name!r}: {exc}",
                              "run from the directory that holds it, or set PYTHONPATH") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValidationError(option, f"module {module_name!r} has no {attribute!r}",
                                  f"check the name after ':' in {spec!r}")
        target = getattr(target, part)
    return target


# ---------------------------------------------------------------- tail


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep running: print new events as they are committed "
              "(catch-up, then live); Ctrl-C exits 0.")
@click.option("--after", type=click.IntRange(min=0), metavar="POSITION", default=0, show_default=True,
              help="Start after this position (a named tail with a checkpoint resumes from it instead).")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="Only streams of this category (repeatable).")
@click.option("--name", metavar="NAME", help="A durable subscription name: the position reached is "
              "checkpointed in the ledger, and the next `tail --name NAME` resumes after it.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Print at most N events, then exit.")
@json_option
def tail(follow: bool, after: int, types: tuple[str, ...], categories: tuple[str, ...], name: str | None,
         limit: int | None, json_output: bool) -> None:
    """Print events after a position through a subscription (Ledger.subscribe).

    Without --follow it prints what is there up to the current head and exits; with --follow
    it keeps delivering live events. Delivery resumes by position, never by time.
    """
    event_filter = Filter(types=list(types) or None, categories=list(categories) or None)
    # Only a named tail writes (its checkpoint); any other tail only reads.
    with cli_state().open_ledger(read_only=name is None, must_exist=True) as ledger:
        try:
            subscription = ledger.subscribe(after=after, filter=event_filter, name=name)
        except ValidationError as error:
            raise rename_field(error, TAIL_OPTION_NAMES) from None
        until = None if follow else ledger.head().position
        events = subscription.events(until=until)
        try:
            shown = write_events(_take(events, limit), json_output, flush=follow)
        except KeyboardInterrupt:
            shown = -1  # a clean exit 0
        finally:
            events.close()
            subscription.stop()
        if shown == 0 and not json_output and not follow:
            write_error_line("no new events")


def _take(events, limit: int | None):
    if limit == 0:
        return
    for count, event in enumerate(events, start=1):
        yield event
        if limit is not None and count >= limit:
            return


# ---------------------------------------------------------------- parked


@click.group()
def parked() -> None:
    """Events a subscription's handler failed on after every retry (dead letters)."""


@parked.command("list")
@click.argument("name", required=False)
@json_option
def parked_list(name: str | None, json_output: bool) -> None:
    """List parked events of subscription or projection NAME (all names when omitted)."""
    from chronik.derive.parking import list_parked, parked_names

    with cli_state().open_ledger(read_only=True) as ledger:
        names = [name] if name else parked_names(ledger)
        rows = [p for n in names for p in list_parked(ledger, n)]
    if json_output:
        for row in rows:
            write_json_line(row)
        return
    if not rows:
        write_error_line("no parked events")
        return
    print_table(("NAME", "POSITION", "STREAM", "TYPE", "ATTEMPTS", "PARKED AT", "ERROR"),
                [(p.name, p.position, p.stream, p.type, p.attempts, p.parked_at[:19], p.error)
                 for p in rows], right_aligned=("POSITION", "ATTEMPTS"))


@parked.command("replay")
@click.argument("name")
@click.option("--handler", "handler_spec", required=True, metavar="MODULE:NAME",
              help="The (fixed) handler to call once per parked event: a function of the event, "
                   "or a chronik.Projection (then the read model is updated).")
@click.option("--position", "positions", multiple=True, type=click.IntRange(min=1), metavar="POSITION",
              help="Only this parked event (repeatable); default: all of NAME's.")
@json_option
def parked_replay(name: str, handler_spec: str, positions: tuple[int, ...], json_output: bool) -> None:
    """Call a handler once for each parked event of NAME; remove those it handles.

    Exit code 1 when any replay failed (those stay parked, with the new error)."""
    from chronik.derive.parking import replay_parked
    from chronik.derive.projections import Projection, ProjectionRunner

    handler = import_object(handler_spec, "--handler")
    with cli_state().open_ledger(must_exist=True) as ledger:
        if isinstance(handler, type) and issubclass(handler, Projection):
            handler = handler()
        if isinstance(handler, Projection) and handler.name != name:
            raise ValidationError("--handler", f"{handler_spec!r} is projection {handler.name!r}, "
                                  f"not {name!r}", "pass the matching NAME")
        if isinstance(handler, Projection):
            outcomes = ProjectionRunner(ledger, handler).replay_parked(list(positions) or None)
        elif callable(handler):
            outcomes = replay_parked(ledger, name, handler, list(positions) or None)
        else:
            raise ValidationError("--handler", f"{handler_spec!r} is not callable",
                                  "name a function that takes an event")
    for outcome in outcomes:
        if json_output:
            write_json_line(outcome)
        else:
            write_line(f"{outcome.position:>8}  {'replayed' if outcome.ok else 'failed: ' + str(outcome.error)}")
    if not outcomes and not json_output:
        write_error_line("no parked events")
    if any(not outcome.ok for outcome in outcomes):
        raise click.exceptions.Exit(1)


@parked.command("discard")
@click.argument("name")
@click.option("--position", "positions", multiple=True, type=click.IntRange(min=1), metavar="POSITION",
              help="Only this parked event (repeatable).")
@click.option("--all", "discard_all", is_flag=True, help="Every parked event of NAME.")
@json_option
def parked_discard(name: str, positions: tuple[int, ...], discard_all: bool, json_output: bool) -> None:
    """Remove parked events of NAME without handling them (--position N.. or --all)."""
    from chronik.derive.parking import discard_parked

    if not positions and not discard_all:
        raise ValidationError("--position", "say which parked events to discard",
                              "pass --position N (repeatable) or --all")
    with cli_state().open_ledger(must_exist=True) as ledger:
        count = discard_parked(ledger, name, None if discard_all else list(positions))
    if json_output:
        write_json_line({"name": name, "discarded": count})
    else:
        write_line(f"discarded {count} parked event(s) of {name}")


# ---------------------------------------------------------------- projections


@click.group()
def projections() -> None:
    """Projections: read models kept with their checkpoint (chronik.ProjectionRunner)."""


@projections.command("list")
@json_option
def projections_list(json_output: bool) -> None:
    """Every projection that has run on this ledger, with its position and lag."""
    from chronik.derive.projections import list_projections

    with cli_state().open_ledger(read_only=True) as ledger:
        found = list_projections(ledger)
    _print_statuses(found, json_output)


@projections.command("status")
@click.argument("name")
@json_option
def projections_status(name: str, json_output: bool) -> None:
    """Position, head, lag, generation, version and parked events of projection NAME."""
    from chronik.derive.projections import projection_status

    with cli_state().open_ledger(read_only=True) as ledger:
        status = projection_status(ledger, name)
    _print_statuses([status], json_output)


LEASE_WAIT_OPTION = click.option(
    "--wait", "lease_wait_s", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="SECONDS",
    help="How long to wait while another process runs projection NAME before giving up (exit 1).")


@projections.command("rebuild")
@click.argument("name")
@click.option("--projection", "projection_spec", required=True, metavar="MODULE:NAME",
              help="The chronik.Projection (instance or class) to run, imported from your code.")
@LEASE_WAIT_OPTION
@json_option
def projections_rebuild(name: str, projection_spec: str, lease_wait_s: float, json_output: bool) -> None:
    """Rebuild projection NAME from position 0 (a new, empty read model), up to the head."""
    runner_status = _run_projection(name, projection_spec, lease_wait_s, rebuild=True)
    _print_statuses([runner_status], json_output)


@projections.command("run")
@click.argument("name")
@click.option("--projection", "projection_spec", required=True, metavar="MODULE:NAME",
              help="The chronik.Projection (instance or class) to run, imported from your code.")
@click.option("--follow", "-f", is_flag=True, help="Keep applying live events; Ctrl-C exits 0.")
@LEASE_WAIT_OPTION
@json_option
def projections_run(name: str, projection_spec: str, follow: bool, lease_wait_s: float, json_output: bool) -> None:
    """Apply new events to projection NAME up to the head (or live, with --follow).

    One runner per projection at a time: a second one waits (--wait) for the first to finish,
    then exits 1 naming the process that runs it."""
    runner_status = _run_projection(name, projection_spec, lease_wait_s, rebuild=False, follow=follow)
    _print_statuses([runner_status], json_output)


def _run_projection(name: str, projection_spec: str, lease_wait_s: float, rebuild: bool, follow: bool = False):
    from chronik.derive.projections import Projection, ProjectionRunner

    projection = import_object(projection_spec, "--projection")
    if isinstance(projection, type) and issubclass(projection, Projection):
        projection = projection()
    if not isinstance(projection, Projection):
        raise ValidationError("--projection", f"{projection_spec!r} is not a chronik.Projection",
                              "name a Projection instance or subclass")
    if projection.name != name:
        raise ValidationError("--projection", f"{projection_spec!r} is projection "
                              f"{projection.name!r}, not {name!r}", "pass the matching NAME")
    with cli_state().open_ledger(must_exist=True) as ledger:
        runner = ProjectionRunner(ledger, projection, lease_wait_s=lease_wait_s)
        if rebuild:
            return runner.rebuild()
        if follow:
            try:
                runner.run()
            except KeyboardInterrupt:
                pass
            return runner.status()
        return runner.run_until_head()


def _print_statuses(statuses, json_output: bool) -> None:
    if json_output:
        for status in statuses:
            write_json_line(status)
        return
    if not statuses:
        write_error_line("no projections")
        return
    print_table(("NAME", "POSITION", "HEAD", "LAG", "GENERATION", "VERSION", "PARKED", "UPDATED"),
                [(s.name, s.position, s.head, s.lag, s.generation, s.version, s.parked, s.updated[:19])
                 for s in statuses], right_aligned=("POSITION", "HEAD", "LAG", "GENERATION", "VERSION",
                                                    "PARKED"))
