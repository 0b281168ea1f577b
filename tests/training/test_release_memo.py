"""The view search judges val once per choice of classifier views, through one detector and
one classifier that answer a batch they have already seen from memory."""

from __future__ import annotations

import numpy as np

from training.release import Remembered


class Counting:
    """A deterministic network that counts how often it really runs."""

    name, precision = "counting", "f32"

    def __init__(self) -> None:
        self.calls = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        return batch.sum(axis=(2, 3))


def test_a_batch_seen_before_is_answered_from_memory_with_the_same_output() -> None:
    inner = Counting()
    memo = Remembered(inner)
    rng = np.random.default_rng(0)
    photo = rng.random((1, 3, 8, 8), dtype=np.float32)
    first = memo.run(photo)
    again = memo.run(photo.copy())
    assert inner.calls == 1 and memo.runs == 1
    np.testing.assert_array_equal(first, again)
    # A view of the photo (mirrored) is another input: it runs, and is remembered in turn.
    mirrored = np.ascontiguousarray(photo[..., ::-1])
    memo.run(mirrored)
    memo.run(mirrored)
    assert inner.calls == 2
    # Same bytes in another shape are not the same input.
    memo.run(photo.reshape(1, 3, 4, 16))
    assert inner.calls == 3
    assert (memo.name, memo.precision) == ("counting", "f32")
