"""The ``gradcheck`` command: options -> check -> render -> exit code.

This module only wires things together; the work is in :mod:`gradcheck_cli.check`
and the output formats in :mod:`gradcheck_cli.render`. It imports neither SymPy nor
torch: ``--help`` and refused input answer without them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from . import __version__
from .batch import (
    LineOptions,
    count_checks,
    default_jobs,
    open_input,
    prepare_lines,
    progress_bar,
    read_lines,
    run_items,
    source_name,
)
from .check import error_result, prepare, run
from .compare import DEFAULT_ATOL, DEFAULT_RTOL, FLOAT32_ATOL, FLOAT32_RTOL
from .dtypes import DType
from .errors import InputError
from .exit_codes import CHECK_FAILED, OK, USAGE_ERROR, exit_code
from .limits import MAX_ORDER
from .render import DEFAULT_FORMAT, REPORTERS, OutputFormat, Reporter, ReportFile, Style
from .results import CheckResult
from .workers import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    MIN_MEMORY_MB,
    Limits,
    WorkerPool,
    load_check_process,
    run_requests,
    set_up_check_process,
)

HELP = f"""\
Check a derivative: SymPy's exact answer against PyTorch autograd's, side by side.

\b
  gradcheck "5*(x+1)**2" --at x=1
  gradcheck "x**y" --at x=3,y=4 --format json
  gradcheck "abs(x)" --at x=0 --at x=1
  gradcheck --file examples.txt --format junit --output report.xml

Each partial derivative is computed exactly (SymPy) and by torch.autograd.grad in
float64 on the expression as written, and the two are compared with the rule
|autograd - symbolic| <= atol + rtol * |symbolic|.
Same-signed infinities agree; nan never silently agrees with anything. Central finite
differences and forward-mode AD are shown beside them and explain a disagreement.

\b
  gradcheck "x**3*y + sin(x*y)" --at x=1.3,y=0.7 --order 2
  gradcheck "(1/2)*sum(5*(x+1)**2)" --at "x=[1, 1]"
  gradcheck "(inp+1)**2" --at "inp=eye(5)" --vjp ones

With --file, each line of the file is a check, 'EXPR @ x=1, y=2' (several '@ point'
parts allowed; '#' starts a comment). Checks run in parallel worker processes; one that
runs past --timeout or --memory-limit is stopped and reported, and the rest go on.

\b
Exit codes:
  {OK}  every check passed (warnings allowed)
  {CHECK_FAILED}  a check failed (the answers disagree) or could not be done
  {USAGE_ERROR}  usage error: a bad option, or the expression or a point was refused
     (with --file: a bad option or a file that cannot be read; a refused line is
     an error result, exit code {CHECK_FAILED})
"""

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.command(help=HELP)
def main(
    expression: Annotated[str | None, typer.Argument(
        help="The expression, e.g. '5*(x+1)**2'. Quote it for the shell.",
        show_default=False)] = None,
    at: Annotated[list[str] | None, typer.Option(
        "--at", help="A point, e.g. x=1,y=pi/4. Repeat for several points.",
        show_default=False)] = None,
    wrt: Annotated[str | None, typer.Option(
        help="Variables to differentiate by, e.g. x,y (default: all, in order of first use).",
        show_default=False)] = None,
    rtol: Annotated[float | None, typer.Option(
        help=f"Relative tolerance [default: {DEFAULT_RTOL:g}; {FLOAT32_RTOL:g} with float32].",
        show_default=False)] = None,
    atol: Annotated[float | None, typer.Option(
        help=f"Absolute tolerance [default: {DEFAULT_ATOL:g}; {FLOAT32_ATOL:g} with float32].",
        show_default=False)] = None,
    order: Annotated[int, typer.Option(
        help=f"Derivative order: all N-th partials (1 to {MAX_ORDER}); 2 shows the Hessian."
    )] = 1,
    dtype: Annotated[DType, typer.Option(
        help="Float type of the autograd side (the symbolic side stays exact).",
        case_sensitive=False)] = DType.FLOAT64,
    vjp: Annotated[str | None, typer.Option(
        help="For a tensor output: the vector v of out.backward(v), 'ones' or a list such as "
        "'[1, 0]' (default: the full Jacobian).", show_default=False, metavar="V")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="Output format.", case_sensitive=False)] = DEFAULT_FORMAT,
    file: Annotated[str | None, typer.Option(
        "--file", help="Check every line of this file ('-': standard input), "
        "written 'EXPR @ x=1, y=2'.", show_default=False, metavar="PATH")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="With --file: worker processes [default: one per core].",
        show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help=f"Seconds one check may run (per point) before it is stopped "
        f"[default with --file: {DEFAULT_TIMEOUT:g}]. A single check given a limit runs in a "
        f"worker process, as a line of --file does.", show_default=False,
        metavar="SECONDS")] = None,
    memory_limit: Annotated[int | None, typer.Option(
        "--memory-limit", min=MIN_MEMORY_MB, help=f"Memory a check's worker may use, in MB, "
        f"before the check is stopped [default with --file: {DEFAULT_MEMORY_MB}].",
        show_default=False, metavar="MB")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write the report to this file instead of standard output; it "
        "appears only when complete (until then: PATH.partial).", show_default=False,
        metavar="PATH")] = None,
    functions: Annotated[bool, typer.Option(
        "--functions", help="List the supported functions and exit.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"gradcheck {__version__}")
        raise typer.Exit(OK)
    if functions:
        typer.echo(functions_text())
        raise typer.Exit(OK)
    report = _report_file(output)
    if file is not None:
        if expression is not None or at:
            raise typer.BadParameter("give an expression or --file, not both", param_hint="--file")
        options = LineOptions(wrt=wrt, rtol=rtol, atol=atol, order=order, dtype=dtype.value,
                              vjp=vjp)
        limits = _limits(timeout, memory_limit)
        raise typer.Exit(check_file(file, options, REPORTERS[output_format], report,
                                    jobs=jobs or default_jobs(), limits=limits))
    if jobs is not None:
        raise typer.BadParameter("--jobs applies only with --file", param_hint="--jobs")
    isolated = timeout is not None or memory_limit is not None
    limits = _limits(timeout, memory_limit)
    if expression is None:
        raise typer.BadParameter("give an expression, e.g. gradcheck \"x**2\" --at x=3",
                                 param_hint="EXPRESSION")
    try:
        request = prepare(expression, at or [], wrt=wrt, rtol=rtol, atol=atol, order=order,
                          dtype=dtype.value, vjp=vjp)
    except InputError as error:
        refused = error_result(expression, error)
        emit([refused], REPORTERS[output_format], refused=True, report=report)
        raise typer.Exit(USAGE_ERROR) from None
    if not isolated:
        set_up_check_process()  # this process runs the check itself
        load_check_process()
        results = run(request)
    else:
        # Stoppable: in a worker process, as a line of a batch (SIGKILL, not a signal).
        answered: list[tuple[CheckResult, ...]] = []
        run_requests([request], lambda _, found: answered.append(found), jobs=1, limits=limits)
        (results,) = answered
    emit(results, REPORTERS[output_format], report=report)
    raise typer.Exit(exit_code(results))


def check_file(path: str, options: LineOptions, reporter: Reporter, report: ReportFile,
               *, jobs: int, limits: Limits) -> int:
    """Batch mode: read and check every line, write the report, return the exit code."""
    try:
        options.validate()  # once for all lines: a bad --rtol is a usage error, not N errors
    except InputError as error:
        raise typer.BadParameter(error.message) from None
    try:
        with open_input(path) as stream:
            lines = read_lines(stream)
    except OSError as error:
        reason = error.strerror or str(error)
        raise typer.BadParameter(f"cannot read {path}: {reason}", param_hint="--file") from None
    # A streaming format (jsonl) is written check by check, as each one and all before
    # it are done.
    streaming = reporter.streams

    try:
        # The workers start importing SymPy and torch while the lines are parsed.
        with WorkerPool(min(jobs, sum(line.may_check() for line in lines)), limits) as pool:
            items = prepare_lines(lines, source_name(path), options)
            # Not over a report that streams to the same terminal: they would interleave.
            shown = not (streaming and report.path is None and _isatty(sys.stdout))
            with progress_bar(count_checks(items), sys.stderr, enabled=shown) as advance:
                results = run_items(items, pool=pool, on_progress=advance,
                                    on_result=(lambda r: report.write(reporter.record(r)))
                                    if streaming else None)
        report.write(reporter.closing(results) if streaming else
                     reporter.report(results, _report_style(report)))
        report.commit()
    except BaseException:
        if not streaming:  # a streamed report keeps its finished checks in PATH.partial
            report.discard()
        raise
    return exit_code(results, input_errors_are_usage=False)


def emit(results: Sequence[CheckResult], reporter: Reporter, *, refused: bool = False,
         report: ReportFile | None = None) -> None:
    """Write the report to standard output or ``--output``; input that was refused as
    the format shows it (the table: its message, on standard error)."""
    report = report or ReportFile(None)
    if refused:
        refusal = reporter.refused(results[0], Style(color=_wants_color(sys.stderr)))
        if refusal.to_stderr:
            sys.stderr.write(refusal.text)
            return
    try:
        report.write(reporter.report(results, _report_style(report)))
        report.commit()
    except BaseException:
        report.discard()
        raise


def _report_file(output: str | None) -> ReportFile:
    report = ReportFile(output)
    try:
        report.check_writable()  # now, not after a long batch
    except OSError as error:
        reason = error.strerror or str(error)
        raise typer.BadParameter(f"cannot write the report to {output}: {reason}",
                                 param_hint="--output") from None
    return report


def _report_style(report: ReportFile) -> Style:
    return _style(sys.stdout) if report.path is None else Style()


def _limits(timeout: float | None, memory_limit: int | None) -> Limits:
    if timeout is not None and not (timeout > 0 and timeout < float("inf")):
        raise typer.BadParameter("must be a number of seconds > 0", param_hint="--timeout")
    return Limits(timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                  memory_mb=DEFAULT_MEMORY_MB if memory_limit is None else memory_limit)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _wants_color(stream: object) -> bool:
    # https://no-color.org: present and not empty means no colour.
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def _style(stream: object) -> Style:
    color = _wants_color(stream)
    width = shutil.get_terminal_size((120, 24)).columns if color else 120
    return Style(color=color, width=max(width, 80))


def functions_text() -> str:
    """The supported functions, generated from the registry."""
    from .functions import CONSTANTS, function_table

    rows = function_table()
    wide = max(len(call) for call, _, _ in rows)
    lines = ["Functions (each computed by SymPy exactly, and by torch as shown):", ""]
    lines += [f"  {call:<{wide}}  {meaning}  [{torch_form}]" for call, meaning, torch_form in rows]
    lines += ["", "Constants: " + ", ".join(CONSTANTS),
              "Operators: + - * / ** (^ also means power), unary - and +, parentheses"]
    return "\n".join(lines)


def run_cli() -> None:
    """The console-script entry point."""
    try:
        app(prog_name="gradcheck")
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(CHECK_FAILED)
