"""Retraining from a fresh clone: one default dataset, and a missing one is a clear error
naming the command that builds it, never a traceback (issue 21, item 7)."""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api import cli, cli_models
from api.retraining import RetrainJob
from tests.conftest import REPO
from training.errors import MissingInputError
from training.layout import DEFAULT_DATASET, build_command, require_built, require_feedback
from training.retrain import plan_retraining


def _default(fn: object, name: str = "dataset") -> object:
    return inspect.signature(fn).parameters[name].default  # type: ignore[arg-type]


def test_every_command_defaults_to_the_one_dataset() -> None:
    defaults = {
        "train": _default(cli.train),
        "release": _default(cli.release_cmd),
        "evaluate": _default(cli.evaluate),
        "models promote": _default(cli_models.promote),
        "models retrain": _default(cli_models.retrain),
        "models rerelease": _default(cli_models.rerelease),
        "models abstain-margins": _default(cli_models.abstain_margins),
        "retrain job": Path(RetrainJob(version="x").dataset),
    }
    assert defaults == dict.fromkeys(defaults, DEFAULT_DATASET)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with nothing built, and data and weights dirs of its own (empty:
    the check comes before any model is loaded or any manifest written)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRESHPROOF_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("FRESHPROOF_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FRESHPROOF_ANCHOR_BACKEND", "none")
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["models", "retrain", "0.3.2", "--feedback", "fb", "--classifier-hours", "0.01"],
        ["models", "promote", "var/candidate-0.3.2"],
        ["models", "abstain-margins"],
        ["evaluate"],
    ],
    ids=["retrain", "promote", "abstain-margins", "evaluate"],
)
def test_a_missing_dataset_names_the_command_that_builds_it(
    isolated: Path, args: list[str]
) -> None:
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert "Traceback" not in result.output
    assert str(DEFAULT_DATASET) in result.stderr
    assert build_command(DEFAULT_DATASET) in result.stderr


def test_a_missing_feedback_export_names_the_export_command(tmp_path: Path) -> None:
    base = tmp_path / "ds"
    from training.datasets import build_dataset

    build_dataset(
        pools_dir=tmp_path / "no-pools",
        out=base,
        synthetic_per_split={"train": 2, "val": 2, "test": 2},
    )
    with pytest.raises(MissingInputError) as caught:
        plan_retraining(base=base, feedback=tmp_path / "nowhere")
    assert "freshproof feedback export" in str(caught.value)
    require_built(base)  # a real build passes
    with pytest.raises(MissingInputError):
        require_feedback(base)


def test_building_needs_the_photo_pools(isolated: Path) -> None:
    result = CliRunner().invoke(cli.app, ["datasets", "build", "--pools", "nowhere"])
    assert result.exit_code == 2, result.output
    assert "no photo pools under nowhere" in result.stderr
    assert not (isolated / DEFAULT_DATASET).exists()


def _commands(text: str) -> list[list[str]]:
    """Each ``freshproof ...`` command line in the text's code, options in brackets opened."""
    lines = []
    for line in text.splitlines():
        line = line.strip().removeprefix("$ ")
        if line.startswith("freshproof ") or line.startswith("`freshproof "):
            line = line.strip("`").split("`")[0].split("#")[0]
            line = re.sub(r"[\[\]]", " ", line).split("|")[0]
            lines.append(shlex.split(line.replace("'", " "), posix=True))
    return lines


@pytest.mark.parametrize(
    "doc", ["README.md", "weights/MODEL_CARD.md"], ids=["readme", "model-card"]
)
def test_the_readme_and_the_card_name_commands_and_options_that_exist(doc: str) -> None:
    root = typer.main.get_command(cli.app)
    commands = _commands((REPO / doc).read_text())
    assert commands
    for words in commands:
        command: Any = root
        for word in words[1:]:
            # Typer's groups are its own classes, not click.Group: ask for subcommands.
            if word in getattr(command, "commands", {}):
                command = command.commands[word]
            elif word.startswith("--"):
                options = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
                assert word.split("=")[0] in options, f"{' '.join(words)}: no {word}"
        assert command is not root, words


def test_the_card_reproduces_from_the_dataset_build_on() -> None:
    from training.card import _with_build

    shipped = (REPO / "weights" / "MODEL_CARD.md").read_text()
    assert build_command(DEFAULT_DATASET) in shipped
    written = _with_build("freshproof models retrain 9.9.9")
    assert written.splitlines()[0].startswith(build_command())
    assert written.splitlines()[1] == "freshproof models retrain 9.9.9"
    readme = (REPO / "README.md").read_text()
    assert "train --rebuild --composites 1000` command" not in readme
    assert "freshproof datasets build" in readme
