"""The process-wide decode budget: its caps, its order, and decodes that really go through it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import jpeg_bytes, run_in_child, scene, textured
from tests.hostile_images import compressible_png
from vision.budget import DecodeBudget
from vision.errors import DecoderBusyError, ImageRejected, VisionError
from vision.image import WORKING_SIDE, decode_image
from vision.predictor import Predictor


def _until(condition: Callable[[], bool]) -> None:
    """Wait until another thread has reached a state; a hang fails instead of sleeping."""
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError("the other thread never got there")


def _in_thread(budget: DecodeBudget, nbytes: int, order: list[str], name: str) -> threading.Thread:
    """A thread that holds ``nbytes`` until the budget lets it, notes its entry and leaves."""

    def run() -> None:
        with budget.hold(nbytes):
            order.append(name)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_caps_how_many_decode_at_once() -> None:
    budget = DecodeBudget(max_decodes=1, wait_seconds=0)
    with budget.hold(10), pytest.raises(DecoderBusyError) as info, budget.hold(10):
        pass
    assert info.value.retry_after >= 1 and info.value.nbytes == 10
    assert "retry" in info.value.reason
    with budget.hold(10):  # released: room again
        assert budget.active == 1


def test_caps_the_bytes_held_at_once() -> None:
    budget = DecodeBudget(max_bytes=100, wait_seconds=0)
    with budget.hold(60):
        with pytest.raises(DecoderBusyError), budget.hold(50):
            pass
        with budget.hold(40):
            assert budget.held_bytes == 100
    assert budget.held_bytes == 0 and budget.peak_bytes == 100


def test_a_photo_over_the_whole_budget_decodes_alone() -> None:
    budget = DecodeBudget(max_decodes=4, max_bytes=100, wait_seconds=0)
    with budget.hold(500), pytest.raises(DecoderBusyError), budget.hold(1):  # nothing beside it
        pass
    # and it waits for the others to finish
    with budget.hold(1), pytest.raises(DecoderBusyError), budget.hold(500):
        pass


def test_busy_is_a_vision_error_not_a_rejected_photo() -> None:
    busy = DecoderBusyError("busy", retry_after=3, waited=2.5, nbytes=7)
    assert isinstance(busy, VisionError) and not isinstance(busy, ImageRejected)
    assert (busy.retry_after, busy.waited, busy.nbytes, busy.reason) == (3, 2.5, 7, "busy")


def test_zero_or_none_caps_nothing() -> None:
    for budget in (DecodeBudget(), DecodeBudget(max_decodes=0, max_bytes=0, wait_seconds=0)):
        assert not budget.bounded
        with budget.hold(1 << 40), budget.hold(1 << 40), budget.hold(1 << 40):
            assert budget.active == 3


def test_negative_caps_are_refused() -> None:
    with pytest.raises(ValueError):
        DecodeBudget(max_decodes=-1)
    with pytest.raises(ValueError):
        DecodeBudget(wait_seconds=-1)


def test_released_when_the_decode_fails() -> None:
    budget = DecodeBudget(max_decodes=1, max_bytes=10, wait_seconds=0)
    with pytest.raises(RuntimeError), budget.hold(10):
        raise RuntimeError("decoder blew up")
    assert (budget.active, budget.held_bytes) == (0, 0)


def test_a_waiting_decode_enters_when_room_is_made() -> None:
    budget = DecodeBudget(max_decodes=1, wait_seconds=60)
    order: list[str] = []
    with budget.hold(1):
        t = _in_thread(budget, 1, order, "waiter")
        _until(lambda: budget.waiting == 1)
        assert order == []
    t.join()
    assert order == ["waiter"]


def test_first_come_first_served_so_a_large_photo_is_not_starved() -> None:
    budget = DecodeBudget(max_bytes=100, wait_seconds=60)
    order: list[str] = []
    with budget.hold(60):
        large = _in_thread(budget, 80, order, "large")
        _until(lambda: budget.waiting == 1)
        small = _in_thread(budget, 10, order, "small")
        _until(lambda: budget.waiting == 2)
        # 60 + 10 fits, but the large photo came first: the small one waits behind it.
        assert order == [] and budget.held_bytes == 60
    large.join()
    small.join()
    assert order == ["large", "small"]


def test_caps_hold_under_contention() -> None:
    budget = DecodeBudget(max_decodes=2, max_bytes=100, wait_seconds=60)
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in rng.integers(1, 70, size=(8, 25)).ravel()]

    def run(chunk: list[int]) -> None:
        for n in chunk:
            with budget.hold(n):
                assert budget.active <= 2 and budget.held_bytes <= 100
                threading.Event().wait(0.0005)  # hold it a moment, as a decode would

    threads = [threading.Thread(target=run, args=(sizes[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.peak_decodes <= 2 and budget.peak_bytes <= 100
    assert (budget.active, budget.held_bytes, budget.waiting) == (0, 0, 0)


def test_decoding_waits_for_the_budget_and_says_busy() -> None:
    budget = DecodeBudget(max_decodes=1, wait_seconds=0)
    with budget.hold(0), pytest.raises(DecoderBusyError):
        decode_image(jpeg_bytes(textured()), max_side=WORKING_SIDE, budget=budget)
    assert decode_image(jpeg_bytes(textured()), budget=budget).rgb.shape == (240, 320, 3)


def test_big_png_decodes_reduced_holding_its_full_size_only_while_decoding() -> None:
    """Defect 1: a 150 KB PNG of 6300 x 6300 pixels comes back at the working size."""
    data = compressible_png(6300)
    assert len(data) < 200_000
    budget = DecodeBudget(max_decodes=2, max_bytes=256 << 20, wait_seconds=60)
    out = decode_image(data, max_side=WORKING_SIDE, budget=budget)
    # 6300 // 512 = 12: the largest integer reduction whose side is still >= 512.
    assert out.rgb.shape == (525, 525, 3) and out.rgb.flags.c_contiguous
    assert (out.width, out.height, out.scale) == (6300, 6300, (12.0, 12.0))
    full = 6300 * 6300 * 4  # Pillow keeps RGB in 4 bytes a pixel
    assert full <= budget.peak_bytes <= full * 1.1
    assert budget.held_bytes == 0


def test_the_predictor_decodes_through_its_budget(predictor: Predictor) -> None:
    busy = DecodeBudget(max_decodes=1, wait_seconds=0)
    shared = Predictor(
        predictor.spec, predictor.backend, classifier=predictor.classifier, budget=busy
    )
    data = jpeg_bytes(scene())  # judged: photo-like (noise is not a product photo)
    with busy.hold(0), pytest.raises(DecoderBusyError):
        shared.inspect(data, image="a.jpg")
    assert shared.inspect(data, image="a.jpg").quality.ok
    assert busy.peak_bytes > 0
    assert not predictor.budget.bounded  # the default caps nothing


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_under_load(_: Path) -> dict[str, int]:
    """In a fresh process: six threads decode a 16 Mpx PNG twice each through one budget;
    the RSS the load added at its peak, and the most bytes the budget held at once."""
    data = compressible_png(4000)
    budget = DecodeBudget(max_decodes=2, max_bytes=100 << 20, wait_seconds=300)
    decode_image(data, max_side=512, budget=budget)  # codec loaded, arenas warm
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from here
    before = _rss_kib("VmRSS")

    def work() -> None:
        for _ in range(2):
            decode_image(data, max_side=512, budget=budget)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"added": (_rss_kib("VmHWM") - before) * 1024, "held": budget.peak_bytes}


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS"
)
def test_concurrent_decodes_keep_the_process_within_the_budget(tmp_path: Path) -> None:
    """Defect 1: six threads decoding 16 Mpx PNGs add one decode's worth of RSS, not six.

    The budget (100 MiB) lets one 67 MiB decode run at a time; without it, or with glibc keeping what
    each thread freed in its own arena, the peak grows by about six of them (~370 MiB).
    Run in a child so the peak is this load's alone.
    """
    result = run_in_child("tests.vision.test_budget:peak_under_load", tmp_path)
    one = 4000 * 4000 * 4
    assert result["held"] <= 100 << 20
    assert result["added"] < 2 * one, f"peak RSS grew by {result['added'] >> 20} MiB"
