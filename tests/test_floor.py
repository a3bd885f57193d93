"""The declared dependency floors are the versions CI tests (.ci/floor.txt)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_-]+)>=([0-9.]+)", requirement)
        assert match, f"{requirement!r}: every dependency has a floor (name>=version)"
        floors[match[1].lower()] = match[2]
    return floors


def _tested() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "floor.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _padded(version: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (3 - len(parts))


def test_every_floor_is_the_version_ci_tests() -> None:
    declared, tested = _declared(), _tested()
    assert set(declared) == set(tested)
    for name, floor in declared.items():
        assert _padded(floor) == _padded(tested[name]), f"{name}: declared >={floor}, tested {tested[name]}"
