"""Shared fixtures: the command line, run in-process through Typer's test runner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from gradcheck_cli.cli import app


@pytest.fixture
def gradcheck() -> Callable[..., Result]:
    """``gradcheck(*args)`` runs the command in-process; stdout and stderr stay apart."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
