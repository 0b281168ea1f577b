"""``freshproof predict --json``: one line per image, errors per file, exit status."""

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from tests.conftest import FIXTURES


def test_predict_json_lines_and_exit_status(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    missing = tmp_path / "missing.jpg"
    good = FIXTURES / "swollen_pouch.jpg"
    result = CliRunner().invoke(app, ["predict", "--json", str(good), str(bad), str(missing)])
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["image"] for x in lines] == [str(good), str(bad), str(missing)]
    assert lines[0]["quality"]["ok"] and "findings" in lines[0] and "error" not in lines[0]
    assert len(lines[0]["sha256"]) == 64 and lines[0]["model"]["version"]
    assert "not a readable image" in lines[1]["error"]
    assert "cannot read" in lines[2]["error"]


def test_predict_all_good_exits_zero() -> None:
    result = CliRunner().invoke(app, ["predict", str(FIXTURES / "flat_pouch.jpg")])
    assert result.exit_code == 0, result.output
    assert "flat_pouch.jpg" in result.stdout
