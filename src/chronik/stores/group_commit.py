"""Group commit: appends that arrive while a commit is in flight share the next one (ADR 0012).

Every append is a *request*: a function that does its writes on the connection of the
transaction it is given and returns its result, or raises its own error. `GroupCommit` runs
requests in groups: one transaction, one durable COMMIT (one fsync / one WAL flush) for all of
them, and one request's error (a stale expectation, an id used with other content) undoes that
request alone and is raised to its caller alone. The requests after it see the database as if
it had never been tried.

How a request is undone alone: a savepoint around each would cost two statements per request
(on PostgreSQL two round trips), paid by every request for the rare one that fails. So a group
first runs without savepoints (`run_unguarded`): a request that fails before it wrote anything
(the usual failure: an expectation is checked before any write) needs no undoing and is simply
kept as failed. One that fails after writing cannot be undone alone: the group's transaction is
rolled back (`Regroup`) and the whole group runs again in a new one with a savepoint per
request (`run_each`). Nothing of the first try was committed or answered, and a request is a
pure function of the database it is given, so running it again is running it once.

Who commits: the first request that finds no commit in flight becomes the leader and commits
at once, in its own thread: a lone writer waits for nobody and pays no thread hop (no timer
ever waits for company). Requests that arrive meanwhile queue; when the leader's commit is
durable it hands the queue to the committer thread, which commits everything queued as one
group, then the next, until the queue is empty. A caller is answered only after the commit
that holds its request is durable, with exactly what its request returned or raised.

A failure of the transaction itself (BEGIN waits past the busy timeout, COMMIT fails, the
connection dies) fails every request of that group with that error: none of them was written.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

Connection = TypeVar("Connection")
# One request: what a store needs to do one caller's writes (a closure, or the call's arguments).
Request = Any
# Runs requests in one transaction; returns, per request, its result or the exception it raised.
# It raises only when the transaction as a whole failed (then nothing of it was written).
RunGroup = Callable[[Sequence[Request]], list[Any]]

LEADER, COMMITTER = "leader", "committer"
# Requests per group at most: bounds a transaction's size and the wait of the last one in it.
MAX_GROUP_REQUESTS = 256


class Failed:
    """The exception one request raised, kept apart from results (which may be anything)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Queued:
    __slots__ = ("request", "future")

    def __init__(self, request: Request) -> None:
        # Imported here: concurrent.futures (and the logging it loads) is for writers only,
        # and `chronik head` must not pay for it (DESIGN 4: fast start).
        from concurrent.futures import Future

        self.request = request
        self.future: Future[Any] = Future()


class GroupCommit(Generic[Connection]):
    """Leader/follower group commit over `run_group` (see the module docstring)."""

    def __init__(self, run_group: RunGroup, name: str, max_requests: int = MAX_GROUP_REQUESTS) -> None:
        assert max_requests >= 1
        self._run_group = run_group
        self._name = name
        self._max_requests = max_requests
        self._wake = threading.Condition(threading.Lock())
        self._queue: deque[_Queued] = deque()
        # Who owns the next commit: None, LEADER (a submitting thread) or COMMITTER (the thread).
        self._owner: str | None = None
        self._committer: threading.Thread | None = None
        self._closed = False
        self.groups = 0  # commits made, and requests in them (for metrics and tests)
        self.requests = 0
        # Called with each committed group's size (e.g. a metrics histogram's observe).
        self.observers: list[Callable[[int], object]] = []

    def submit(self, request: Request) -> Any:
        """Run `request` in the next commit and return its result (or raise its error) once
        that commit is durable. Blocks the calling thread."""
        queued = _Queued(request)
        with self._wake:
            self._queue.append(queued)
            lead = self._owner is None
            if lead:
                self._owner = LEADER
        if lead:  # nobody is committing: commit at once, in this thread
            try:
                self._commit_next_group()
            finally:
                self._hand_off()
        return queued.future.result()

    def submit_future(self, request: Request) -> Future[Any]:
        """Queue `request` without blocking (for asyncio: `await asyncio.wrap_future(...)`);
        the committer thread commits it with whatever else is queued."""
        queued = _Queued(request)
        with self._wake:
            self._queue.append(queued)
            if self._owner is None:
                self._wake_committer()
        return queued.future

    def close(self) -> None:
        """Stop the committer thread once the queue is empty."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()

    # ------------------------------------------------------------ internals

    def _hand_off(self) -> None:
        """After a leader's commit: the committer thread takes what queued meanwhile."""
        with self._wake:
            if self._queue:
                self._wake_committer()
            else:
                self._owner = None

    def _wake_committer(self) -> None:
        """Give the next commit to the committer thread (caller holds self._wake)."""
        self._owner = COMMITTER
        if self._committer is None:
            self._committer = threading.Thread(target=self._commit_forever, daemon=True,
                                               name=f"chronik group commit {self._name}")
            self._committer.start()
        self._wake.notify()

    def _commit_forever(self) -> None:
        """The committer thread: one long-lived thread, so a store keeps one connection for it."""
        while True:
            with self._wake:
                while self._owner != COMMITTER or not self._queue:
                    if self._owner == COMMITTER:  # everything queued is committed
                        self._owner = None
                    if self._closed and self._owner is None:
                        return
                    self._wake.wait()
            self._commit_next_group()

    def _commit_next_group(self) -> None:
        with self._wake:
            group = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_requests))]
        if not group:
            return
        try:
            outcomes = self._run_group([queued.request for queued in group])
        except BaseException as exc:  # the transaction failed: nothing of the group was written
            for queued in group:
                queued.future.set_exception(exc)
            return
        assert len(outcomes) == len(group), "one outcome per request"
        self.groups += 1
        self.requests += len(group)
        for observe in self.observers:
            observe(len(group))
        for queued, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Failed):
                queued.future.set_exception(outcome.error)
            else:
                queued.future.set_result(outcome)


class Regroup(Exception):
    """A request failed after writing: roll the group's transaction back, run it again with
    `run_each` (module doc)."""


def run_unguarded(requests: Sequence[Request], run_one: Callable[[Request], Any],
                  writes: Callable[[], int], in_transaction: Callable[[], bool]) -> list[Any]:
    """Run `requests` with `run_one` in the open transaction, without savepoints. `writes()`
    counts the rows written on the transaction's connection so far: a request that raises with
    the count unchanged wrote nothing and is kept as `Failed`; one that raises after writing
    raises Regroup (the caller rolls back and runs the group with `run_each`). An error that
    ended the transaction itself (`in_transaction()` false: SQLite rolls back on its own after
    some I/O errors) is raised as is: the requests after it must not run outside a transaction.
    A single request's error is raised as is: it rolls back a transaction that holds nothing else."""
    if len(requests) == 1:
        return [run_one(requests[0])]
    outcomes: list[Any] = []
    for request in requests:
        before = writes()
        try:
            outcomes.append(run_one(request))
        except Exception as exc:
            if not in_transaction():
                raise
            if writes() != before:
                raise Regroup() from exc
            outcomes.append(Failed(exc))
    return outcomes


def run_each(requests: Sequence[Request], run_one: Callable[[Request], Any],
             execute: Callable[[str], object]) -> list[Any]:
    """Run `requests` with `run_one`, one after another in the open transaction that
    `execute(sql)` runs statements in, each in its own savepoint (SQL both SQLite and
    PostgreSQL speak): a request that raises is rolled back alone and its error kept as `Failed`.
    A single request runs without a savepoint (its error rolls back the whole transaction,
    which holds nothing else), so a lone writer pays nothing for grouping."""
    if len(requests) == 1:
        return [run_one(requests[0])]
    outcomes: list[Any] = []
    for index, request in enumerate(requests):
        name = f"chronik_request_{index}"
        execute(f"SAVEPOINT {name}")
        try:
            outcomes.append(run_one(request))
        except Exception as exc:
            execute(f"ROLLBACK TO SAVEPOINT {name}")
            outcomes.append(Failed(exc))
        execute(f"RELEASE SAVEPOINT {name}")
    return outcomes
