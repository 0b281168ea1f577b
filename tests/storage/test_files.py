"""Small files written whole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from storage.files import write_whole


def test_a_file_written_once_keeps_the_first_writers_text(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook.secret"
    assert write_whole(path, "first\n", replace=False) is True
    assert write_whole(path, "second\n", replace=False) is False
    assert path.read_text() == "first\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["webhook.secret"]  # no scratch left


def test_replacing_sets_the_mode_whatever_the_umask_and_never_follows_a_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not ours\n")
    path = tmp_path / "token"
    path.symlink_to(target)
    old = os.umask(0)
    try:
        assert write_whole(path, "secret\n", mode=0o600) is True
    finally:
        os.umask(old)
    assert not path.is_symlink() and path.read_text() == "secret\n"
    assert target.read_text() == "not ours\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
