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
from .check import error_result, prepare, run
from .compare import DEFAULT_ATOL, DEFAULT_RTOL
from .errors import InputError
from .exit_codes import CHECK_FAILED, OK, USAGE_ERROR, exit_code
from .render import RENDERERS, OutputFormat, Style
from .results import CheckResult

HELP = f"""\
Check a derivative: SymPy's exact answer against PyTorch autograd's, side by side.

\b
  gradcheck "5*(x+1)**2" --at x=1
  gradcheck "x**y" --at x=3,y=4 --format json
  gradcheck "abs(x)" --at x=0 --at x=1

Each partial derivative is computed exactly (SymPy) and by torch.autograd.grad in
float64 on the expression as written, and the two are compared with the rule
|autograd - symbolic| <= atol + rtol * |symbolic|.
Same-signed infinities agree; nan never silently agrees with anything.

\b
Exit codes:
  {OK}  every check passed (warnings allowed)
  {CHECK_FAILED}  a check failed (the answers disagree) or could not be done
  {USAGE_ERROR}  usage error: a bad option, or the expression or a point was refused
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
    rtol: Annotated[float, typer.Option(help="Relative tolerance.")] = DEFAULT_RTOL,
    atol: Annotated[float, typer.Option(help="Absolute tolerance.")] = DEFAULT_ATOL,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="Output format.", case_sensitive=False)] = OutputFormat.TABLE,
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
    if expression is None:
        raise typer.BadParameter("give an expression, e.g. gradcheck \"x**2\" --at x=3",
                                 param_hint="EXPRESSION")
    try:
        request = prepare(expression, at or [], wrt=wrt, rtol=rtol, atol=atol)
    except InputError as error:
        refused = error_result(expression, error)
        emit([refused], output_format, refused_to_stderr=True)
        raise typer.Exit(USAGE_ERROR) from None
    results = run(request)
    emit(results, output_format)
    raise typer.Exit(exit_code(results))


def emit(results: Sequence[CheckResult], output_format: OutputFormat, *,
         refused_to_stderr: bool = False) -> None:
    """Write the report to standard output (a refused input's table to standard error)."""
    if refused_to_stderr and output_format is OutputFormat.TABLE:
        from .render.table import render_error

        sys.stderr.write(render_error(results[0], color=_wants_color(sys.stderr)))
        return
    sys.stdout.write(RENDERERS[output_format](results, _style(sys.stdout)))


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
    app(prog_name="gradcheck")
