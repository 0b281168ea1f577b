"""The process-wide pool for a photo's networks, and threads that run them in place."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from vision import parallel
from vision.parallel import networks_in_place, submit


def test_a_thread_set_up_with_networks_in_place_runs_them_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 2)  # a pool exists on any machine
    where = lambda: threading.current_thread().name  # noqa: E731

    with ThreadPoolExecutor(1, thread_name_prefix="grader", initializer=networks_in_place) as own:
        in_place = own.submit(lambda: submit(where).result()).result()
    with ThreadPoolExecutor(1, thread_name_prefix="plain") as plain:
        handed = plain.submit(lambda: submit(where).result()).result()
    assert in_place.startswith("grader")
    assert handed.startswith("freshproof-net")


def test_an_error_in_place_reaches_whoever_waits() -> None:
    def fail() -> None:
        raise ValueError("bad photo")

    with ThreadPoolExecutor(1, initializer=networks_in_place) as own:
        future = own.submit(lambda: submit(fail)).result()
    with pytest.raises(ValueError, match="bad photo"):
        future.result()


def test_a_batch_process_keeps_opencv_on_one_thread() -> None:
    import cv2

    before = cv2.getNumThreads()
    try:
        parallel.pixels_on_one_thread()
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)


def test_with_a_photo_on_every_core_a_photos_networks_run_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One photo alone gets both cores (its networks go to the pool); with as many photos in
    flight as cores, each runs its own networks (no hand-offs, no more threads than cores)."""
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    where = lambda: threading.current_thread().name  # noqa: E731
    with parallel.photo_in_flight():
        alone = submit(where).result()
        with parallel.photo_in_flight():
            busy = submit(where).result()
        again = submit(where).result()
    assert alone.startswith("freshproof-net") and again.startswith("freshproof-net")
    assert busy == threading.current_thread().name
    with pytest.raises(ValueError), parallel.photo_in_flight():
        raise ValueError("a photo that failed")
    with parallel.photo_in_flight():
        assert submit(where).result().startswith("freshproof-net")  # the count came back
