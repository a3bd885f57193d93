"""``gradcheck-files FILE...``: the batch of every check file named, for pre-commit.

A pre-commit hook is given the changed files as arguments, after the hook's own
``args``; ``gradcheck`` takes its files as ``--file PATH`` (its one positional argument
is the expression). This command is ``gradcheck`` with each of its positional arguments
taken as a check file: ``gradcheck-files --format github a.gradcheck b.gradcheck`` runs
``gradcheck --format github --file a.gradcheck --file b.gradcheck``. Every option of
``gradcheck`` works, before or between the files; after ``--``, every argument is a file
(one that starts with ``-``). Like ``gradcheck``, it loads neither SymPy nor torch here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

#: The name the command calls itself in its messages.
PROG_NAME = "gradcheck-files"


def as_gradcheck_args(args: Sequence[str], params: Sequence[Any]) -> list[str]:
    """``gradcheck``'s command line for ``gradcheck-files args``: each argument that is
    neither an option nor an option's value becomes ``--file ARG``.

    ``params`` are the command's Click parameters (read by their attributes: which
    options take a value). An option given as ``--name=value`` is one argument.
    """
    options = [p for p in params if getattr(p, "param_type_name", None) == "option"]
    with_value = {name for p in options if not p.is_flag for name in p.opts}
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            for path in args[index + 1:]:
                out += ["--file", path]
            break
        if arg in with_value:
            out += args[index:index + 2]  # the option and its value, whatever it looks like
            index += 2
            continue
        if arg.startswith("-") and arg != "-":
            out.append(arg)  # a flag, --name=value, or a mistyped option for Click to name
        else:
            out += ["--file", arg]
        index += 1
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """The console-script entry point."""
    import typer

    from .cli import app, run_cli
    from .exit_codes import USAGE_ERROR

    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args[:args.index("--") if "--" in args else None]):
        sys.stdout.write(_usage())
        sys.exit(0)
    command = typer.main.get_command(app)
    gradcheck_args = as_gradcheck_args(args, command.params)
    if "--file" not in gradcheck_args:
        sys.stderr.write(f"{PROG_NAME}: give the check files to run, e.g. {PROG_NAME} "
                         "checks.gradcheck\n")
        sys.exit(USAGE_ERROR)
    run_cli(gradcheck_args, prog_name=PROG_NAME)


def _usage() -> str:
    return (f"usage: {PROG_NAME} [GRADCHECK OPTIONS] FILE...\n\n"
            "Runs gradcheck on every check file named (each as --file FILE), in one report:\n"
            "the command of the pre-commit hook. Any option of gradcheck may be given\n"
            "(gradcheck --help lists them); after --, every argument is a file.\n")


if __name__ == "__main__":
    main()
