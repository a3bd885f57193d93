"""The runner: one set of options in, an exit code out.

The CLI builds a :class:`RunOptions` and calls :func:`run`, which decides between a
single check and a batch, in this process or in a worker, and drives the reporter and
the progress bar. Usage errors come back as :class:`UsageError` (the CLI shows them as
Typer shows a bad parameter, exit code 2). Light: SymPy and torch load only when a
check runs (in this process, :func:`~gradcheck_cli.worker.load_check_process`).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from .batch import (
    Interrupted,
    RawLine,
    count_checks,
    default_jobs,
    open_input,
    prepare_lines,
    read_lines,
    run_items,
    source_name,
    unused_wrt,
)
from .check import error_result, prepare
from .check import run as run_check
from .errors import InputError
from .exit_codes import CHECK_FAILED, INTERRUPTED, OK, USAGE_ERROR, exit_code
from .line_options import LineOptions
from .progress import progress
from .render import DEFAULT_FORMAT, REPORTERS, OutputFormat, Reporter, ReportFile, Style
from .results import CheckResult, Status
from .sweep import SweepResult
from .worker import load_check_process, set_up_check_process
from .workers import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    Limits,
    WorkerPool,
    run_requests,
)


class UsageError(Exception):
    """A command line that cannot run: ``message``, about ``param_hint`` (``--file``)."""

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


@dataclass(frozen=True)
class RunOptions:
    """Everything the command line says, before any of it is checked."""

    expression: str | None = None
    at: tuple[str, ...] = ()
    #: The check files of a batch (--file, repeatable; ``-``: standard input, once).
    files: tuple[str, ...] = ()
    #: What to check and how (--wrt, --rtol, --atol, --order, --dtype, --vjp): the same
    #: for a single check and for every line of a file.
    check: LineOptions = field(default_factory=LineOptions)
    output_format: OutputFormat = DEFAULT_FORMAT
    output: str | None = None
    jobs: int | None = None
    timeout: float | None = None
    memory_limit: int | None = None
    #: A batch's table shows every check's full table, not a row per check.
    verbose: bool = False
    #: The user's own derivatives (--expect): a single check only.
    expect: tuple[str, ...] = ()
    #: The user's own torch code (--impl TARGET), its parameters' order (--args x,y), and
    #: where torch computes (--device): a single check only.
    impl: str | None = None
    args: str | None = None
    device: str = "cpu"
    #: Sweeps over ranges (--sweep VAR=LO:HI, repeatable) and their samples (--samples).
    sweep: tuple[str, ...] = ()
    samples: int | None = None
    #: With --sweep: a plot of it (.png, .svg, .pdf), written atomically.
    plot: str | None = None


def run(options: RunOptions) -> int:
    """Run what the options say; write the report; return the exit code."""
    expression, at, files = options.expression, options.at, options.files
    wrt, rtol, atol = options.check.wrt, options.check.rtol, options.check.atol
    order, dtype, vjp = options.check.order, options.check.dtype, options.check.vjp
    output_format, jobs = options.output_format, options.jobs
    timeout, memory_limit = options.timeout, options.memory_limit
    report = _report_file(options.output)
    if files:
        if expression is not None:
            raise UsageError("give an expression or --file, not both", param_hint="--file")
        if at:
            raise UsageError("--at gives the points of a single expression; with --file, each "
                             "line gives its own after '@' (x**2 @ x=3)", param_hint="--at")
        if options.expect:
            raise UsageError("--expect applies to a single expression, not to the lines of "
                             "--file", param_hint="--expect")
        if options.impl is not None:
            # A check file is data: a line can never name code to import.
            raise UsageError("--impl applies to a single expression; a line of --file cannot "
                             "name code to run", param_hint="--impl")
        if options.args is not None or options.device.strip().lower() != "cpu":
            raise UsageError("--args and --device apply to a single expression, not to the "
                             "lines of --file", param_hint="--device")
        if options.sweep:
            raise UsageError("--sweep applies to a single expression, not to the lines of "
                             "--file", param_hint="--sweep")
        limits = _limits(timeout, memory_limit)
        return check_files(files, options.check, REPORTERS[output_format], report,
                           jobs=jobs or default_jobs(), limits=limits, verbose=options.verbose)
    if jobs is not None:
        raise UsageError("--jobs applies only with --file", param_hint="--jobs")
    isolated = timeout is not None or memory_limit is not None
    limits = _limits(timeout, memory_limit)
    if expression is None:
        raise UsageError("give an expression, e.g. gradcheck \"x**2\" --at x=3",
                         param_hint="EXPRESSION")
    if expression.strip().lower() in _HELP_WORDS and not at:
        raise UsageError(f"{expression.strip()!r} is not an expression to check; for help, run "
                         "gradcheck --help", param_hint="EXPRESSION")
    if options.sweep or options.samples is not None or options.plot is not None:
        return _sweep(options, expression, report)
    try:
        request = prepare(expression, at or [], wrt=wrt, rtol=rtol, atol=atol, order=order,
                          dtype=dtype, vjp=vjp, expect=list(options.expect) or None,
                          impl=options.impl, args=options.args, device=options.device)
    except InputError as error:
        return _refuse(expression, error, output_format, report)
    if not isolated:
        set_up_check_process()  # this process runs the check itself
        load_check_process()
        results = run_check(request)
    else:
        # Stoppable: in a worker process, as a line of a batch (SIGKILL, not a signal).
        answered: list[tuple[CheckResult, ...]] = []
        run_requests([request], lambda _, found: answered.append(found), jobs=1, limits=limits)
        (results,) = answered
    emit(results, REPORTERS[output_format], report=report)
    return exit_code(results)


def _sweep(options: RunOptions, expression: str, report: ReportFile) -> int:
    """A sweep over ranges (``--sweep``): vectorised, in this process."""
    from .render.sweep import render_sweep_json, render_sweep_table
    from .sweep import prepare_sweep

    if not options.sweep:
        what = "--plot draws" if options.plot is not None else "--samples is the number of samples of"
        raise UsageError(f"{what} a sweep: give --sweep too",
                         param_hint="--plot" if options.plot is not None else "--samples")
    if options.plot is not None:
        # What cannot be drawn at all is said before what is missing to draw it.
        if len(options.sweep) > 2:
            raise UsageError("--plot draws a sweep over one variable (curves) or two (a heat "
                             f"map), not {len(options.sweep)}: sweep at most two and fix the "
                             "others with --at", param_hint="--plot")
        _check_plot(options.plot)
    if options.output_format not in (OutputFormat.TABLE, OutputFormat.JSON):
        raise UsageError("a sweep is reported as --format table or json",
                         param_hint="--format")
    if options.timeout is not None or options.memory_limit is not None:
        raise UsageError("--timeout and --memory-limit do not apply to a sweep (it runs in "
                         "this process)", param_hint="--sweep")
    check = options.check
    try:
        sweep = prepare_sweep(expression, options.sweep, options.at, samples=options.samples,
                              dtype=check.dtype, wrt=check.wrt, rtol=check.rtol,
                              atol=check.atol, order=check.order, vjp=check.vjp,
                              expect=list(options.expect) or None, impl=options.impl,
                              args=options.args, device=options.device)
    except InputError as error:
        return _refuse(expression, error, options.output_format, report)
    set_up_check_process()
    load_check_process()
    from .engine.sweep import run_sweep

    try:
        result = run_sweep(sweep, series=options.plot is not None)
    except InputError as error:  # --impl: a function that is not elementwise
        return _refuse(expression, error, options.output_format, report)
    except Exception as error:  # a bug, said in one line rather than a traceback
        sys.stderr.write(f"gradcheck: the sweep could not be completed: "
                         f"{type(error).__name__}: {error}\n")
        return CHECK_FAILED
    if options.plot is not None:
        _write_plot(options.plot, result)
    style = _report_style(report)
    try:
        report.write(render_sweep_table(result, color=style.color, width=style.width)
                     if options.output_format is OutputFormat.TABLE else render_sweep_json(result))
        report.commit()
    except BaseException:
        report.discard()
        raise
    return CHECK_FAILED if result.status in (Status.FAIL, Status.ERROR) else OK


def _refuse(expression: str, error: InputError, output_format: OutputFormat,
            report: ReportFile) -> int:
    """Input that was refused, shown as the format shows it: the usage-error exit code."""
    emit([error_result(expression, error)], REPORTERS[output_format], refused=True,
         report=report)
    return USAGE_ERROR


def _check_plot(path: str) -> None:
    """Refuse a plot that cannot be made before the sweep runs: a suffix other than
    .png/.svg/.pdf, a folder that does not exist, no matplotlib (in that order: what is
    wrong with the path the user typed first, whether or not the extra is installed)."""
    import importlib.util

    from .plot import INSTALL_HINT, plot_format

    try:
        plot_format(path)
    except ValueError as error:
        raise UsageError(str(error), param_hint="--plot") from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write the plot to {path}: {folder} is not a writable folder",
                         param_hint="--plot")
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError(f"--plot needs matplotlib, an optional extra: {INSTALL_HINT}",
                         param_hint="--plot")


def _write_plot(path: str, result: SweepResult) -> None:
    """The plot of a sweep (gradcheck_cli.plot): curves over one variable, a heat map of
    bits of error on the grid over two."""
    from .plot import Box, PlotUnavailable, Region, Sweep1D, Sweep2D, plot_sweep_1d, plot_sweep_2d

    data = result.series
    try:
        if len(result.ranges) == 2:
            across, up = result.ranges
            x_axis, y_axis = data["axes"]
            plot_sweep_2d(path, Sweep2D(
                x_variable=across.name, y_variable=up.name, expression=result.expression,
                dtype=result.dtype, x=x_axis, y=y_axis,
                # grid_bits[i][j] is at (x_axis[i], y_axis[j]); the plot's [i][j] is at (x[j], y[i]).
                bits_error=data["grid_bits"].T,
                boxes=[Box(r.start[across.name], r.end[across.name], r.start[up.name],
                           r.end[up.name], str(r.category), r.status.value)
                       for r in result.regions]))
            return
        (swept,) = result.ranges
        regions = [Region(r.start[swept.name], r.end[swept.name], str(r.category),
                          r.status.value) for r in result.regions]
        plot_sweep_1d(path, Sweep1D(
            variable=swept.name, expression=result.expression, dtype=result.dtype,
            x=data["x"], value_exact=data["value_exact"], value_autograd=data["value_autograd"],
            derivative_exact=data["derivative_exact"],
            derivative_autograd=data["derivative_autograd"], bits_error=data["bits"],
            regions=regions))
    except PlotUnavailable as error:
        raise UsageError(str(error), param_hint="--plot") from None
    except OSError as error:
        raise UsageError(f"cannot write the plot to {path}: {error.strerror or error}",
                         param_hint="--plot") from None


def check_files(paths: Sequence[str], options: LineOptions, reporter: Reporter,
                report: ReportFile, *, jobs: int, limits: Limits, verbose: bool = False) -> int:
    """Batch mode: read and check every line of every file (in the order given, each
    result with its ``path:line``), write one report, return the exit code."""
    try:
        options.validate()  # once for all lines: a bad --rtol is a usage error, not N errors
    except InputError as error:
        raise UsageError(error.message) from None
    if sum(path == "-" for path in paths) > 1:
        raise UsageError("'-' (standard input) can be given to --file only once",
                         param_hint="--file")
    files: list[tuple[str, list[RawLine]]] = []
    for path in paths:  # every file is read before any worker starts: a bad one is a usage error
        try:
            with open_input(path) as stream:
                lines = read_lines(stream)
        except OSError as error:
            reason = error.strerror or str(error)
            raise UsageError(f"cannot read {path}: {reason}", param_hint="--file") from None
        except KeyboardInterrupt:  # Ctrl-C while standard input is read
            return _interrupted(report, None, [], 0)
        if not any(line.may_check() or line.too_long is not None for line in lines):
            # An empty or mistyped file must not pass CI as "0 checks, all passed", alone
            # or among others (a pre-commit hook given a file emptied by mistake).
            raise UsageError(f"no checks in {_file_name(path)}: every line is blank or a "
                             "comment (a check is a line such as 'x**2 @ x=3')",
                             param_hint="--file")
        files.append((path, lines))
    # A streaming format (jsonl) is written check by check, as each one and all before
    # it are done.
    streaming = reporter.streams
    streamed = 0  # results written to a streaming report
    total: int | None = None  # results to come, once the lines are read

    def write_record(result: CheckResult) -> None:
        nonlocal streamed
        report.write(reporter.record(result))
        streamed += 1

    try:
        # The workers start importing SymPy and torch while the lines are parsed.
        checks = sum(line.may_check() for _, lines in files for line in lines)
        with WorkerPool(min(jobs, checks), limits) as pool:
            items = [item for path, lines in files
                     for item in prepare_lines(lines, source_name(path), options)]
            total = count_checks(items)
            unused = unused_wrt(items, options)
            if unused:
                names = " or ".join(_file_name(path) for path, _ in files)
                raise UsageError(f"--wrt names {', '.join(unused)}, which no line of {names} "
                                 "has as a variable (a line without a --wrt variable checks its "
                                 "value only, so a mistyped --wrt would check no derivative)",
                                 param_hint="--wrt")
            # Not over a report that streams to the same terminal: they would interleave.
            shown = not (streaming and report.path is None and _isatty(sys.stdout))
            with progress(total, sys.stderr, bar=shown) as advance:
                results = run_items(items, pool=pool, on_settle=advance,
                                    on_result=write_record if streaming else None)
        report.write(reporter.closing(results) if streaming else
                     reporter.report(results, replace(_report_style(report), summary=not verbose)))
        report.commit()
    except KeyboardInterrupt as interrupt:  # Ctrl-C: the workers are gone by now
        finished = interrupt.finished if isinstance(interrupt, Interrupted) else []
        whole = None if streaming else (
            lambda done: reporter.report(done, replace(_report_style(report), summary=not verbose)))
        return _interrupted(report, total, finished, streamed, whole)
    except BaseException:
        if not streaming:  # a streamed report keeps its finished checks in PATH.partial
            report.discard()
        raise
    return exit_code(results, input_errors_are_usage=False)


def _file_name(path: str) -> str:
    """A check file as messages name it."""
    return "standard input" if path == "-" else path



def _interrupted(report: ReportFile, total: int | None, finished: list[CheckResult],
                 streamed: int, whole: Callable[[list[CheckResult]], str] | None = None) -> int:
    """After a Ctrl-C: keep what can be kept, say so in one line, return :data:`INTERRUPTED`.

    A streamed report (jsonl) keeps the checks written so far in ``PATH.partial`` (or on
    standard output); another format given ``--output`` has a report of the ``finished``
    checks written there (``whole`` makes it). ``PATH`` itself never appears: the run is
    not complete.
    """
    # A second Ctrl-C while this is written changes nothing; then SIGINT is as it was
    # (a test runner that ran the command in-process stays interruptible).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        _keep_and_say(report, total, finished, streamed, whole)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return INTERRUPTED


def _keep_and_say(report: ReportFile, total: int | None, finished: list[CheckResult],
                  streamed: int, whole: Callable[[list[CheckResult]], str] | None) -> None:
    if total is None:
        report.discard()
        sys.stderr.write("gradcheck: interrupted before any check was run; no report was "
                         "written\n")
        return
    done = f"interrupted with {len(finished)} of {_checks(total)} done"
    kept = streamed
    if whole is not None:  # a report written only when complete: write what is finished
        report.discard()
        kept = len(finished)
        if report.path is not None and finished:
            report.write(whole(finished))
    where = report.keep() if kept else None
    if report.path is None and whole is None and kept:
        where = "standard output"
    if where is None:
        hint = " (--output PATH keeps the finished checks in PATH.partial)" if (
            report.path is None and finished) else ""
        sys.stderr.write(f"gradcheck: {done}; no report was written{hint}\n")
    elif whole is None:
        order = " (those before the first unfinished one)" if kept < len(finished) else ""
        verb = "has" if where == "standard output" else "keeps"
        sys.stderr.write(f"gradcheck: {done}; {where} {verb} {_checks(kept)}{order}\n")
    else:
        sys.stderr.write(f"gradcheck: {done}; {where} holds a report of them\n")


def _checks(count: int) -> str:
    return f"{count} check{'' if count == 1 else 's'}"


def emit(results: Sequence[CheckResult], reporter: Reporter, *, refused: bool = False,
         report: ReportFile | None = None) -> None:
    """Write the report to standard output or ``--output``; input that was refused as
    the format shows it (the table: its message, on standard error)."""
    report = report or ReportFile(None)
    if refused:
        refusal = reporter.refused(results[0], _style(sys.stderr))
        if refusal.to_stderr:
            sys.stderr.write(refusal.text)
            return
    try:
        report.write(reporter.report(results, _report_style(report)))
        report.commit()
    except BaseException:
        report.discard()
        raise


#: Words that ask for help rather than name a variable.
_HELP_WORDS = frozenset({"help", "-h", "?", "usage"})


def _report_file(output: str | None) -> ReportFile:
    # "-o -" is standard output, as "--file -" is standard input.
    report = ReportFile(None if output == "-" else output)
    try:
        report.check_writable()  # now, not after a long batch
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"cannot write the report to {output}: {reason}",
                                 param_hint="--output") from None
    return report


def _report_style(report: ReportFile) -> Style:
    return _style(sys.stdout) if report.path is None else Style(width=_width(None))


def _limits(timeout: float | None, memory_limit: int | None) -> Limits:
    if timeout is not None and not (timeout > 0 and timeout < float("inf")):
        raise UsageError("must be a number of seconds > 0", param_hint="--timeout")
    return Limits(timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                  memory_mb=DEFAULT_MEMORY_MB if memory_limit is None else memory_limit)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _wants_color(stream: object) -> bool:
    # https://no-color.org: present and not empty means no colour.
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


#: The narrowest report: below it, a table cannot show a number and its verdict.
MIN_WIDTH = 40
#: The width of a report that goes to a pipe or a file and is not told one by COLUMNS.
DEFAULT_WIDTH = 120


def _width(stream: object) -> int:
    """The terminal's width; else ``COLUMNS``; else :data:`DEFAULT_WIDTH` (at least
    :data:`MIN_WIDTH`)."""
    if _isatty(stream):
        # Asks the terminal itself, after COLUMNS (which tmux and `COLUMNS=80 cmd` set).
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    else:
        try:
            width = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            width = 0
        width = width if width > 0 else DEFAULT_WIDTH
    return max(width, MIN_WIDTH)


def _style(stream: object) -> Style:
    return Style(color=_wants_color(stream), width=_width(stream))


