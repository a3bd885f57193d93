"""The ``gradcheck`` command and ``python -m gradcheck_cli``.

Importing this module loads nothing heavy: batch workers are started with ``spawn``,
and each one re-imports the module its command started from. The command's own
imports (Typer, Rich, the renderers) wait until :func:`main` runs.
"""


def main() -> None:
    """The console-script entry point."""
    from .cli import run_cli

    run_cli()


if __name__ == "__main__":
    main()
