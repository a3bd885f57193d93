"""The pytest plugin: check files collected and run as tests.

Installed with the package (entry point ``pytest11``, plugin name ``gradcheck``; ``-p
no:gradcheck`` turns it off). Files named ``*.gradcheck``, and those matching the globs of
the ``gradcheck_files`` ini option (``examples.txt``), are read as batch files
(:mod:`~gradcheck_cli.batch`): each point of each line is one test item, named
``line 3: x*sqrt(x) @ x=0``, so ``-k``, ``--lf``, ``-x``, ``-n`` (pytest-xdist) and
``--junitxml`` work on them as on any test.

A check that passes is a passed test; one that warns passes with a
:class:`~gradcheck_cli.testing.GradcheckWarning` (pytest's warnings summary shows it);
one that fails or cannot be checked fails, showing the plain-text table and explanation
the command line prints. A refused line fails its own item; it never stops the
collection of the lines and files around it. A file with no check in it is one failing
item (``FILE::no checks``), as ``--file`` refuses one.

ini options, for every collected line (a line's own ``; rtol=...`` still wins):
``gradcheck_rtol``, ``gradcheck_atol``, ``gradcheck_dtype``, and ``gradcheck_timeout``
(seconds per check: the checks then run in a worker process, as in batch mode, which
stops one that runs past it).

Light: pytest imports this module at start-up in every project where the package is
installed, so it imports nothing of gradcheck at module level; the line reader loads
when a check file is found, SymPy and torch at the first check that runs.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .line_options import LineOptions
    from .results import CheckResult
    from .workers import Limits, WorkerPool

#: The suffix of the files collected without any configuration.
SUFFIX = ".gradcheck"

#: The ini options: name, help.
_INI = (
    ("gradcheck_files", "globs of more files to collect as gradcheck check files (e.g. examples.txt)"),
    ("gradcheck_rtol", "gradcheck: relative tolerance of every collected check (default: by dtype)"),
    ("gradcheck_atol", "gradcheck: absolute tolerance of every collected check (default: by dtype)"),
    ("gradcheck_dtype", "gradcheck: dtype torch computes in (float64, float32, float16, bfloat16)"),
    ("gradcheck_timeout", "gradcheck: seconds per check; set, each check runs in a worker process"),
)

class _Settings:
    """What the ini options say, checked; and the worker pool of ``gradcheck_timeout``."""

    def __init__(self, options: LineOptions | None, limits: Limits | None) -> None:
        #: ``None``: the defaults (looked up at collection, not at start-up).
        self.options = options
        self.limits = limits
        self.pool: WorkerPool | None = None

    def run(self, request: Any) -> tuple[CheckResult, ...]:
        """The results of a request: in this process, or in the worker when timed."""
        if self.limits is None:
            from .check import run

            # torch's deprecation warnings at the first dual number are filtered where they
            # are raised (engine/autograd.py), for every library user.
            return run(request)
        if self.pool is None:
            from .workers import WorkerPool

            pool = WorkerPool(1, self.limits)
            self.pool = pool.__enter__()
        answered: list[tuple[CheckResult, ...]] = []
        self.pool.run([request], lambda _, found: answered.append(found))
        (results,) = answered
        return results

    def close(self) -> None:
        """Stop the worker, if one was started."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


#: The config's stash: the settings read from the ini file, once.
_SETTINGS = pytest.StashKey[_Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini options (see the module's docstring)."""
    (files, files_help), *settings = _INI
    parser.addini(files, files_help, type="args", default=[])
    for name, help_text in settings:
        parser.addini(name, help_text, type="string", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Read and check the ini options: a bad value is a usage error, before collection."""
    values = {name: str(config.getini(name)).strip() for name, _ in _INI[1:]}
    if not any(values.values()):
        config.stash[_SETTINGS] = _Settings(None, None)  # nothing to import, nothing to check
    else:
        config.stash[_SETTINGS] = _read_settings(values)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the worker of ``gradcheck_timeout``, if one was started."""
    settings = config.stash.get(_SETTINGS, None)
    if settings is not None:
        settings.close()


def _read_settings(values: dict[str, str]) -> _Settings:
    from .dtypes import DTYPES
    from .errors import InputError
    from .line_options import LineOptions
    from .workers import DEFAULT_MEMORY_MB, Limits

    def number(name: str) -> float | None:
        text = values[name]
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0) or (name == "gradcheck_timeout" and value == 0):
            wanted = "a number of seconds > 0" if name == "gradcheck_timeout" else \
                "a finite number >= 0 such as 1e-6"
            raise pytest.UsageError(f"ini option {name} = {text!r} is not {wanted}")
        return value

    dtype = values["gradcheck_dtype"].lower() or "float64"
    if dtype not in DTYPES:
        raise pytest.UsageError(f"ini option gradcheck_dtype = {values['gradcheck_dtype']!r} is not a "
                                f"dtype that gradcheck computes in: choose {', '.join(DTYPES)}")
    options = LineOptions(rtol=number("gradcheck_rtol"), atol=number("gradcheck_atol"), dtype=dtype)
    try:
        options.validate()
    except InputError as error:
        raise pytest.UsageError(f"gradcheck ini options: {error.message}") from None
    timeout = number("gradcheck_timeout")
    limits = None if timeout is None else Limits(timeout=timeout, memory_mb=DEFAULT_MEMORY_MB)
    return _Settings(options, limits)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CheckFile | None:
    """A ``*.gradcheck`` file, or one matching a ``gradcheck_files`` glob: a check file."""
    if file_path.suffix == SUFFIX or _listed(file_path, parent.config):
        collected: CheckFile = CheckFile.from_parent(parent, path=file_path)
        return collected
    return None


def _listed(path: Path, config: pytest.Config) -> bool:
    globs: list[str] = config.getini("gradcheck_files")
    if not globs:
        return False
    relative = path.relative_to(config.rootpath).as_posix() if path.is_relative_to(config.rootpath) \
        else path.as_posix()
    # A glob with a '/' is matched against the path from the rootdir, one without against
    # the file's name (as pytest's python_files does).
    return any(fnmatch.fnmatch(relative if "/" in glob else path.name, glob) for glob in globs)


class CheckFile(pytest.File):
    """A check file: one item per point of each line, one per refused line."""

    def collect(self) -> Iterator[pytest.Item]:
        from .batch import open_input, prepare_lines, read_lines
        from .check import Request
        from .limits import MAX_LINE_BYTES
        from .line_options import DEFAULT_LINE_OPTIONS

        settings = self.config.stash[_SETTINGS]
        try:
            with open_input(str(self.path)) as stream:
                lines = read_lines(stream)
        except OSError as error:
            raise self.CollectError(f"cannot read {self.path}: {error.strerror or error}") from None
        source = self._source_name()
        items = prepare_lines(lines, source, settings.options or DEFAULT_LINE_OPTIONS)
        if not items:
            # As for --file: an empty or mistyped check file must not pass as "0 checks".
            yield NoChecksItem.from_parent(self, name="no checks")
            return
        texts = {line.lineno: line for line in lines}
        seen: set[str] = set()
        for item in items:
            lineno = int((item.source or "0").rsplit(":", 1)[-1])
            line = texts[lineno]
            if isinstance(item, Request):
                labels = _point_labels(line.raw, len(item.points))
                line_run = _LineRun(item)
                for index, label in enumerate(labels):
                    name = _unique(f"line {lineno}: {item.expression.text}{label}", seen)
                    yield CheckItem.from_parent(self, name=name, lineno=lineno, line_run=line_run,
                                                index=index)
            else:
                # Named after the line as written: the refused part may be the point.
                shown = _line_label(line.raw) if line.too_long is None else \
                    f"{_line_label(line.raw)}... ({line.too_long:,} bytes > {MAX_LINE_BYTES:,})"
                name = _unique(f"line {lineno}: {shown}" if shown else f"line {lineno}", seen)
                yield CheckItem.from_parent(self, name=name, lineno=lineno, line_run=_LineRun(item),
                                            index=0)

    def _source_name(self) -> str:
        path = self.path
        root = self.config.rootpath
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


class _LineRun:
    """One line's check, run once for all of its items: its results, in point order."""

    def __init__(self, item: Any) -> None:
        self.item = item
        self.results: tuple[CheckResult, ...] | None = None

    def result(self, index: int, settings: _Settings) -> CheckResult:
        from .results import CheckResult

        if isinstance(self.item, CheckResult):
            return self.item
        if self.results is None:
            self.results = settings.run(self.item)
        return self.results[index]


class CheckFailedError(Exception):
    """A check that failed or could not be checked: its result, for the report."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


class CheckItem(pytest.Item):
    """One check: one point of one line of a check file."""

    def __init__(self, *, lineno: int, line_run: _LineRun, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lineno = lineno
        self.line_run = line_run
        self.index = index

    def runtest(self) -> None:
        """Run the check (its line's, once): fail on fail or error, warn on warn."""
        from .results import Status
        from .testing import GradcheckWarning

        result = self.line_run.result(self.index, self.config.stash[_SETTINGS])
        if result.status is Status.WARN:
            category = str(result.category.value)
            # Attributed to the line of the check file, which the warnings summary shows.
            warnings.warn_explicit(GradcheckWarning(f"{category}: {result.message}", category),
                                   GradcheckWarning, str(self.path), self.lineno)
        elif result.status is not Status.PASS:
            raise CheckFailedError(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        """A failed check: the plain-text table and explanation, as the CLI prints them."""
        if isinstance(excinfo.value, CheckFailedError):
            from .testing import plain_report

            return plain_report([excinfo.value.result]).rstrip("\n")
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the check is: the file and its line (0-based, as pytest wants it)."""
        return self.path, self.lineno - 1, self.name


class NoChecksError(Exception):
    """A check file with no check in it."""


class NoChecksItem(pytest.Item):
    """The one item of a check file whose every line is blank or a comment: it fails."""

    def runtest(self) -> None:
        """Fail: the file checks nothing."""
        raise NoChecksError(f"no checks in {self.path.name}: every line is blank or a comment "
                            "(a check is a line such as 'x**2 @ x=3')")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        """The reason, without a traceback."""
        if isinstance(excinfo.value, NoChecksError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """The file."""
        return self.path, 0, self.name


def _point_labels(raw: bytes, count: int) -> list[str]:
    """`` @ x=0`` for each point of a line, as written (``""`` for a check without one)."""
    text = raw.decode("utf-8", "replace").split("#", 1)[0].partition(";")[0]
    points = [" ".join(point.split()) for point in text.split("@")[1:]]
    if not points and count == 1:
        return [""]  # sin(1): no variables, no point
    if len(points) != count:  # cannot happen for a line prepare accepted; never misname
        points = [f"point {index + 1}" for index in range(count)]
    return [f" @ {point}" for point in points]


#: Characters of a refused line kept in its item's name.
_LABEL_CHARS = 80


def _line_label(raw: bytes) -> str:
    """A line as an item's name: without its comment, spaces collapsed, control
    characters escaped (``\\x00``), at most :data:`_LABEL_CHARS` characters."""
    text = raw.decode("utf-8", "backslashreplace").split("#", 1)[0]
    text = " ".join(text.split())
    text = "".join(repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c for c in text)
    return text if len(text) <= _LABEL_CHARS else f"{text[:_LABEL_CHARS - 3]}..."


def _unique(name: str, seen: set[str]) -> str:
    """``name``, or with `` (2)``... where a line gives the same point twice."""
    candidate, number = name, 1
    while candidate in seen:
        number += 1
        candidate = f"{name} ({number})"
    seen.add(candidate)
    return candidate
