"""Shared fixtures: the command line, run in-process through Typer's test runner."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import settings
from typer.testing import CliRunner, Result

from gradcheck_cli.cli import app

# In CI the property tests draw the same examples every run (a CI result must not depend
# on the luck of the draw); on a developer's machine each run draws new ones, and a
# failure prints the seed that reproduces it.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def gradcheck() -> Callable[..., Result]:
    """``gradcheck(*args)`` runs the command in-process; stdout and stderr stay apart.

    Without the width of whoever runs the tests: pytest-xdist's workers have COLUMNS=80,
    which wraps messages that tests read whole at the default width.
    """
    runner = CliRunner(env={"COLUMNS": None})

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
