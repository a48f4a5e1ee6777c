"""Worker processes for long jobs: how they start, and a bounded, ordered map over them."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, TypeVar

__all__ = ["PARALLEL_MIN_BYTES", "choose_jobs", "ordered_map", "worker_context"]

R = TypeVar("R")

#: Below this much data, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


def choose_jobs(jobs: int | None, items: int, total_bytes: int) -> int:
    """How many worker processes to use; 1 means do the work in this process.

    ``jobs`` is what the user asked for (``None``: decide). Small jobs stay in process.
    """
    if jobs is not None:
        return max(jobs, 1)
    if total_bytes < PARALLEL_MIN_BYTES or items < 4:
        return 1
    return max(min(os.cpu_count() or 1, 8, items), 1)


def worker_context(preload: str) -> multiprocessing.context.BaseContext:
    """How workers start. Never plain "fork": the parent holds SQLite handles and threads.

    Where available, a fork server that has already imported ``preload`` (a module name)
    forks each worker, so workers start in milliseconds instead of importing it again.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        return context
    return multiprocessing.get_context("spawn")


def ordered_map(
    pool: Executor,
    function: Callable[..., R],
    arguments: Iterable[tuple[Any, ...]],
    *,
    in_flight: int,
) -> Iterator[R]:
    """``function(*args)`` for each item of ``arguments`` in ``pool``, yielded in order.

    At most ``in_flight`` calls are submitted at once, which keeps memory flat however many
    items there are. The window refills as soon as any call finishes, not only the oldest:
    one slow item at the head must not leave the other workers idle.
    """
    order: deque[Future[R]] = deque()
    running: set[Future[R]] = set()
    pending = iter(arguments)

    def top_up() -> None:
        while len(running) < in_flight:
            item = next(pending, None)
            if item is None:
                return
            future = pool.submit(function, *item)
            order.append(future)
            running.add(future)

    top_up()
    while order:
        if not order[0].done():
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            running.difference_update(finished)
            top_up()
            continue
        head = order.popleft()
        running.discard(head)
        top_up()
        yield head.result()
