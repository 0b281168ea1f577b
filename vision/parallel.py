"""One process-wide pool on which a photo's two networks run side by side.

A photo's detector and condition classifier do not depend on each other, and neither needs
the quality gate's verdict to start. Each runs on one runtime thread: a small network split
over two threads spends a third of its CPU on synchronising them (release 0.3.1 on 2 cores:
the detector 7.6 ms of CPU on one thread, 12.2 ms on two; bf16, the same outputs bit for
bit), while two networks on two threads keep both cores busy with no such cost. With several
photos at once (two requests, a station's batch) the pool also bounds how many networks run
at a time to the cores there are, instead of every request's threads fighting for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import cv2

__all__ = ["cores", "networks_in_place", "photo_in_flight", "pixels_on_one_thread", "submit"]

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_inside = threading.local()  # set on the pool's own threads
_in_flight = 0  # photos being judged right now in this process (``photo_in_flight``)


def cores() -> int:
    """The CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _mark() -> None:
    _inside.yes = True


def networks_in_place() -> None:
    """Make this thread run a photo's networks itself, one after the other (a pool's
    ``initializer``), for threads that each grade one photo of a batch, one per core.

    Those threads keep the cores busy with photos already; handing each photo's networks to
    the shared pool as well only adds hand-offs and threads contending for the same cores
    (a station batch of 32 photos of 1080p on 2 cores, two photos at a time: about 5% less
    CPU and wall time per photo in place, the same outputs).
    """
    _mark()


def _forget() -> None:
    """After a fork the pool's threads are gone (a Celery prefork child): start a new one."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=cores(), thread_name_prefix="freshproof-net", initializer=_mark
            )
        return _pool


def pixels_on_one_thread() -> None:
    """Stop OpenCV from splitting each resize and filter over threads of its own, in a
    process that only grades batches (a station worker), a photo per core at a time.

    Every core has a photo already, so OpenCV's threads only add hand-offs: 0.85 ms less
    CPU per photo of 1080p (of 24), about 3% less wall per batch, the same pixels (each row
    is computed the same way whichever thread computes it). Process-wide, so not for the
    API, whose single claim photo gets its gate and hash done sooner split.
    """
    cv2.setNumThreads(1)


@contextmanager
def photo_in_flight() -> Iterator[None]:
    """Count a photo as being judged while the block runs (``submit`` reads the count).

    With as many photos in flight as there are cores (two requests at once on two cores),
    every core has a photo already: splitting each one's networks over the pool then only
    adds hand-offs and more threads than cores. Release 0.3.1, OpenVINO bf16, two requests at
    once on 2 cores (``bench/inference.py``'s throughput table, this change and the code
    before it on one machine): 72-77 against 66 images/s, 24-25.5 against 26.8 CPU-ms a
    photo, the same outputs. One photo alone still gets both cores.
    """
    global _in_flight
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1


def submit(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """Run ``fn`` on the pool; run it now instead on one of the pool's own threads, on one
    core, or while every core already has a photo in flight (``photo_in_flight``).

    Running it in place on the pool's threads is what keeps a task that waits for tasks from
    deadlocking a pool whose every thread is waiting.
    """
    if getattr(_inside, "yes", False) or cores() < 2 or _in_flight >= cores():
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to whoever waits, as the pool would
            done.set_exception(exc)
        return done
    return _executor().submit(fn, *args, **kwargs)
