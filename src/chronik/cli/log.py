"""`chronik log`: events of the whole ledger in position order (Ledger.read_all / Ledger.follow)."""

from __future__ import annotations

from itertools import islice

import click

from chronik.cli.inputs import rename_field, time_option
from chronik.cli.output import write_error_line, write_events
from chronik.cli.state import cli_state, json_option
from chronik.errors import ValidationError
from chronik.ledger import Ledger
from chronik.model import Filter

LOG_OPTION_NAMES = {"after": "--after", "limit": "--limit", "filter.types": "--type",
                    "filter.categories": "--category", "filter.streams": "--stream",
                    "filter.text": "--grep", "filter.since": "--since", "filter.until": "--until"}
FOLLOW_POLL_INTERVAL_MS = 200


@click.command()
@click.option("--after", type=click.IntRange(min=0), metavar="POSITION", default=0, show_default=True,
              help="Start after this position (resume from the last position you saw).")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeat for any of several).")
@click.option("--category", "categories", multiple=True, metavar="CATEGORY",
              help="Only streams of this category, the text before ':' (repeatable).")
@click.option("--stream", "streams", multiple=True, metavar="STREAM", help="Only this stream (repeatable).")
@click.option("--since", metavar="TIME", help="Only events recorded at or after TIME: RFC 3339 with a zone, "
              "a date, or an age such as 2h or 7d.")
@click.option("--until", metavar="TIME", help="Only events recorded at or before TIME (as --since).")
@click.option("--grep", "text", metavar="TEXT",
              help="Only events whose type, data or meta contains TEXT (case-insensitive).")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Print at most this many events, then exit "
              "(also with --follow).")
@click.option("--follow", "-f", is_flag=True, help="Keep running and print new matching events as they "
              "are committed, with the same filters; Ctrl-C exits 0.")
@json_option
def log(after: int, types: tuple[str, ...], categories: tuple[str, ...], streams: tuple[str, ...],
        since: str | None, until: str | None, text: str | None, limit: int | None, follow: bool,
        json_output: bool) -> None:
    """Print the ledger's events in position order, optionally filtered.

    Filters combine with AND; repeated values of one option combine with OR. With --follow,
    reading resumes by position (never by time), so no event is skipped or repeated.
    """
    event_filter = Filter(types=list(types) or None, categories=list(categories) or None,
                          streams=list(streams) or None, since=time_option(since, "--since"),
                          until=time_option(until, "--until"), text=text)
    with cli_state().open_ledger(read_only=True) as ledger:
        try:
            if follow:
                follow_events(ledger, after, event_filter, limit, json_output)
            else:
                count = write_events(ledger.read_all(after=after, limit=limit, filter=event_filter),
                                     json_output)
                if count == 0 and not json_output:
                    write_error_line("no matching events")
        except ValidationError as error:
            raise rename_field(error, LOG_OPTION_NAMES) from None


def follow_events(ledger: Ledger, after: int, event_filter: Filter, limit: int | None, json_output: bool) -> None:
    """Print matching events as they are committed until `limit` events or Ctrl-C."""
    if limit == 0:
        return
    events = ledger.follow(after=after, filter=event_filter, poll_interval_ms=FOLLOW_POLL_INTERVAL_MS)
    try:
        write_events(islice(events, limit), json_output, flush=True)
    except KeyboardInterrupt:
        return  # the way to stop following: a clean exit 0
    finally:
        events.close()

