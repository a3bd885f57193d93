"""The ``gradcheck`` command: its options and help text.

This module turns the command line into one :class:`~gradcheck_cli.runner.RunOptions`
and hands it to :func:`gradcheck_cli.runner.run`, which returns the exit code. It
imports neither SymPy nor torch: ``--help`` and refused input answer without them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from . import __version__
from .compare import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    FLOAT32_ATOL,
    FLOAT32_RTOL,
    HALF_TOLERANCES,
)
from .dtypes import DTYPES, DType
from .exit_codes import CHECK_FAILED, INTERRUPTED, OK, USAGE_ERROR
from .limits import MAX_ORDER, MAX_SAMPLES, MAX_SWEEP_VARIABLES
from .line_options import LineOptions
from .render import DEFAULT_FORMAT, OutputFormat
from .runner import RunOptions, UsageError, run
from .sweep import DEFAULT_SAMPLES
from .workers import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    MIN_MEMORY_MB,
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
parts allowed; '#' starts a comment; options of that line alone after ';', as in
'x**3*y @ x=1, y=2 ; order=2, wrt=x'). Checks run in parallel worker processes; one
that runs past --timeout or --memory-limit is stopped and reported, and the rest go on.
The table is a row per check, then the full table of each that did not pass.

\b
Exit codes:
  {OK}  every check passed (warnings allowed)
  {CHECK_FAILED}  a check failed (the answers disagree) or could not be done
  {USAGE_ERROR}  usage error: a bad option, or the expression or a point was refused
     (with --file: a bad option, or a file that cannot be read or has no checks;
     a refused line is an error result, exit code {CHECK_FAILED})
  {INTERRUPTED}  stopped by Ctrl-C; the finished checks are kept
"""

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})


class _ExpressionCommand(TyperCommand):
    """The command, with one thing Click does not do: an expression that starts with ``-``
    (``-log(p)``, ``-x**2``) is the expression, not an unknown option.

    Click takes any argument that starts with ``-`` for an option, and ``--`` would make
    every later ``--at`` an argument too. So an argument that starts with ``-``, is not
    one of the command's options (nor a value given to one) and is not ``-`` alone, is
    moved behind a ``--`` at the end, where Click reads it as the expression.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        reordered = expression_last(args, self.params, ctx.help_option_names)
        parsed: list[str] = super().parse_args(ctx, reordered)
        return parsed


def expression_last(args: list[str], params: Sequence[Any], more_names: Sequence[str] = ()
                    ) -> list[str]:
    """``args`` with an expression that looks like an option moved behind ``--``.

    Only a single ``-`` counts: ``--atx`` stays a mistyped option, for Click to say so
    and suggest ``--at``. ``params`` are Click's parameters of the command (Typer's
    vendored Click: read by their attributes, so nothing private is imported);
    ``more_names`` are option names that are not among them (``-h``).
    """
    options = [p for p in params if getattr(p, "param_type_name", None) == "option"]
    names = {name for p in options for name in [*p.opts, *p.secondary_opts]} | set(more_names)
    with_value = {name for p in options if not p.is_flag for name in p.opts}
    kept: list[str] = []
    moved: list[str] = []
    positional = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            kept += args[index:]
            break
        if arg in with_value:
            kept += args[index:index + 2]  # the option and its value, whatever it looks like
            index += 2
            continue
        looks_like_option = arg.startswith("-") and not arg.startswith("--") and arg != "-"
        known = arg in names or arg.split("=", 1)[0] in names or arg[:2] in with_value
        if looks_like_option and not known and not moved:
            moved.append(arg)
        else:
            positional = positional or not arg.startswith("-")
            kept.append(arg)
        index += 1
    if not moved or positional:
        return args  # an expression is already given: "-q" is a mistyped option
    return [*kept, "--", *moved]


def dtype_option(text: str | DType) -> DType:
    """``--dtype``, any case; anything else is refused with the choices, from :class:`DType`
    (Typer's own message for an enum reads "Value error, 'float16' is not one of ...")."""
    if isinstance(text, DType):  # the default
        return text
    for choice in DType:
        if text.strip().lower() == choice.value:
            return choice
    choices = f"{', '.join(DTYPES[:-1])} or {DTYPES[-1]}" if len(DTYPES) > 1 else DTYPES[0]
    raise typer.BadParameter(f"{text!r} is not a dtype that gradcheck computes in; choose "
                             f"{choices}", param_hint="'--dtype'")


@app.command(help=HELP, cls=_ExpressionCommand)
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
        help=f"Relative tolerance [default: {DEFAULT_RTOL:g}; {FLOAT32_RTOL:g} with float32; "
             f"{HALF_TOLERANCES['float16'][0]:g} with float16, "
             f"{HALF_TOLERANCES['bfloat16'][0]:g} with bfloat16].",
        show_default=False)] = None,
    atol: Annotated[float | None, typer.Option(
        help=f"Absolute tolerance [default: {DEFAULT_ATOL:g}; {FLOAT32_ATOL:g} with float32; "
             f"{HALF_TOLERANCES['float16'][1]:g} with float16 and bfloat16].",
        show_default=False)] = None,
    order: Annotated[int, typer.Option(
        help=f"Derivative order: all N-th partials (1 to {MAX_ORDER}); 2 shows the Hessian."
    )] = 1,
    dtype: Annotated[DType, typer.Option(
        help="Float type of the autograd side (the symbolic side stays exact).",
        parser=dtype_option, metavar=f"<{'|'.join(DTYPES)}>")] = DType.FLOAT64,
    vjp: Annotated[str | None, typer.Option(
        help="For a tensor output: the vector v of out.backward(v), 'ones' or a list such as "
        "'[1, 0]' (default: the full Jacobian).", show_default=False, metavar="V")] = None,
    expect: Annotated[list[str] | None, typer.Option(
        "--expect", help="Your own derivative, compared with the exact one: FORMULA (one "
        "variable; with --order N its N-th derivative) or VAR=FORMULA. Repeat for several "
        "variables.", show_default=False, metavar="[VAR=]FORMULA")] = None,
    impl: Annotated[str | None, typer.Option(
        "--impl", help="Check your own torch code against the exact derivative of the "
        "expression: package.module:function or path/to/file.py:function (e.g. "
        "MySigmoid.apply); called with one tensor per variable, matched by parameter name.",
        show_default=False, metavar="TARGET")] = None,
    args: Annotated[str | None, typer.Option(
        "--args", help="With --impl: the variables in the function's positional order, "
        "e.g. x,y (default: matched by parameter name).", show_default=False,
        metavar="X,Y")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="Where torch computes: cpu, cuda, cuda:N or mps.",
        metavar="DEVICE")] = "cpu",
    sweep: Annotated[list[str] | None, typer.Option(
        "--sweep", help="Sweep a variable over a range, e.g. x=-1000:1000 (LO and HI constant "
        "expressions, or -inf/inf: the dtype's finite range); repeat it for up to "
        f"{MAX_SWEEP_VARIABLES} variables (a grid and random points over the box), the others "
        "fixed by --at. Reports the regions where autograd (reverse and forward mode) is wrong, "
        "their exact boundaries (boxes over several variables) and bits of error.",
        show_default=False, metavar="VAR=LO:HI")] = None,
    samples: Annotated[int | None, typer.Option(
        "--samples", help=f"With --sweep: how many samples [default: {DEFAULT_SAMPLES:,}; at "
        f"most {MAX_SAMPLES:,}].", show_default=False, metavar="N")] = None,
    plot: Annotated[str | None, typer.Option(
        "--plot", help="With --sweep: plot it to this file (.png, .svg or .pdf; needs the "
        "'plot' extra, matplotlib).", show_default=False, metavar="FILE")] = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="Output format.", case_sensitive=False)] = DEFAULT_FORMAT,
    file: Annotated[list[str] | None, typer.Option(
        "--file", help="Check every line of this file ('-': standard input), "
        "written 'EXPR @ x=1, y=2'. Repeat for several files: one report.",
        show_default=False, metavar="PATH")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="With --file: worker processes [default: one per core].",
        show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help=f"Seconds one check may run (per point) before it is stopped "
        f"[default with --file: {DEFAULT_TIMEOUT:g}]. A single check given a limit runs in a "
        f"worker process, as a line of --file does.", show_default=False,
        metavar="SECONDS")] = None,
    memory_limit: Annotated[int | None, typer.Option(
        "--memory-limit", min=MIN_MEMORY_MB, help=f"Memory a check may use, in MB, on top of "
        f"what its worker holds with SymPy and torch loaded, before the check is stopped "
        f"[default with --file: {DEFAULT_MEMORY_MB}].",
        show_default=False, metavar="MB")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write the report to this file instead of standard output; it "
        "appears only when complete (until then: PATH.partial).", show_default=False,
        metavar="PATH")] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="With --file and the table format: the full table of every "
        "check, not a row per check and the detail of those that did not pass.")] = False,
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
    what = LineOptions(wrt=wrt, rtol=rtol, atol=atol, order=order, dtype=dtype.value, vjp=vjp)
    options = RunOptions(expression=expression, at=tuple(at or ()), files=tuple(file or ()),
                         check=what, output_format=output_format, output=output, jobs=jobs,
                         timeout=timeout, memory_limit=memory_limit, verbose=verbose,
                         expect=tuple(expect or ()), impl=impl, args=args, device=device,
                         sweep=tuple(sweep or ()), samples=samples, plot=plot)
    try:
        code = run(options)
    except UsageError as error:
        raise typer.BadParameter(error.message, param_hint=error.param_hint) from None
    raise typer.Exit(code)


def functions_text(width: int | None = None) -> str:
    """The supported functions, generated from the registry, each row folded to the
    terminal's width (``COLUMNS`` when piped; 80 by default, 40 at the least) under its
    description, as the tables fold."""
    import shutil
    import textwrap

    from .functions import CONSTANTS, function_table

    width = max(40, width or shutil.get_terminal_size((80, 24)).columns)
    rows = function_table()
    wide = max(len(call) for call, _, _ in rows)
    indent = " " * (wide + 4)
    lines = [*textwrap.wrap("Functions (each computed by SymPy exactly, and by torch as shown):",
                            width), ""]
    for call, meaning, torch_form in rows:
        # The meaning folds under itself; the torch form stays whole where it fits.
        body = textwrap.wrap(meaning, width - len(indent), break_on_hyphens=False) or [""]
        lines += [f"  {call:<{wide}}  {body[0]}", *(indent + part for part in body[1:])]
        form = f"[{torch_form}]"
        if len(lines[-1]) + 2 + len(form) <= width:
            lines[-1] += "  " + form
        else:
            lines += textwrap.wrap(form, width, initial_indent=indent, subsequent_indent=indent,
                                   break_on_hyphens=False)
    lines += ["", *textwrap.wrap("Constants: " + ", ".join(CONSTANTS), width),
              *textwrap.wrap("Operators: + - * / ** (^ also means power), unary - and +, "
                             "parentheses", width)]
    return "\n".join(lines)


def run_cli(args: list[str] | None = None, prog_name: str = "gradcheck") -> None:
    """The console-script entry point: the command line ``args`` (default: ``sys.argv``)."""
    try:
        app(args=args, prog_name=prog_name)
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(CHECK_FAILED)
    except OSError as error:
        # The report could not be written (a full disk, > /dev/full): one line, not a
        # traceback. What was not written is not to be trusted, so the run failed to run.
        if error.errno is None:
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush fails too
        sys.stderr.write(f"gradcheck: cannot write the report: {error.strerror or error}\n")
        sys.exit(USAGE_ERROR)
