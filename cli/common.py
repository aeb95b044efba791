"""Shared CLI plumbing for imc-extract, imc-train and imc-verify: `-h`, `--version`, and one error path.

A user error (ImcError) becomes `error: <message>` on stderr and its exit code. Anything else is a bug or a cause we
have not named yet: the user still sees one line, and the traceback goes to a log file that the line points to.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from imcpnn import __version__
from imcpnn.errors import ImcError
from imcpnn.paths import user_cache_dir

INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2 raises it for a group without a command


class Interrupted(ImcError):
    """Ctrl-C, with a hint on how to continue; printed without the `error:` prefix."""

    exit_code = 130


def log_dir() -> Path:
    """Where tracebacks of unexpected errors go: $IMC_LOG_DIR, else $XDG_CACHE_HOME/imc-pnn/logs."""
    return user_cache_dir("logs", "IMC_LOG_DIR")


def _write_log(tool: str, exc: BaseException) -> Path | None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir() / f"{tool}-{stamp}-{os.getpid()}.log"
    text = (f"{tool} {__version__}\nargv: {' '.join(sys.argv)}\ncwd: {os.getcwd()}\n\n"
            + "".join(traceback.format_exception(exc)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError:
        return None
    return path


def report_error(exc: BaseException, tool: str) -> NoReturn:
    """Print one line for exc and leave with its exit code."""
    if isinstance(exc, Interrupted):
        click.echo(str(exc), err=True)
        _exit(exc.exit_code)
    if isinstance(exc, ImcError):
        click.echo(f"error: {exc}", err=True)
        _exit(exc.exit_code)
    if isinstance(exc, BrokenPipeError):  # `imc-train configs | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _exit(141)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        _exit(130)
    log = _write_log(tool, exc)
    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    where = f"the traceback is in {log}" if log else f"the traceback could not be saved in {log_dir()}"
    click.echo(f"error: internal error ({what}); {where}; please report it", err=True)
    _exit(INTERNAL_ERROR_EXIT)


class ImcGroup(click.Group):
    """The top-level group of each tool: every exception raised below it goes through report_error."""

    def __init__(self, *args: Any, tool: str, **kwargs: Any):
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(*args, **kwargs)
        self.tool = tool
        click.version_option(__version__, "--version", prog_name=tool)(self)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Click's own errors (unknown option, bad value) in the same one-line style as ours."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS as exc:  # the tool alone: its help, as click shows it
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} -h`)" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001  (the one place that turns anything into one line)
            report_error(exc, self.tool)


def tool_group(tool: str) -> Callable[[Callable], ImcGroup]:
    """`@tool_group("imc-verify")` in place of `@click.group()` for a tool's main group."""
    return click.group(cls=ImcGroup, tool=tool)


def user_errors(fn: Callable) -> Callable:
    """The same error path for code that runs outside a tool group (scripts, tests)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001
            report_error(exc, Path(sys.argv[0]).name or "imc-pnn")
    return wrapper


def _ngspice_loaded() -> bool:
    engine = sys.modules.get("imcpnn.spice.engine")
    return getattr(engine, "_instance", None) is not None


def _exit(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    if _ngspice_loaded():
        # libngspice sometimes crashes in its own teardown at interpreter exit; our work is flushed, so leave directly.
        os._exit(code)
    sys.exit(code)


def finish(code: int = 0) -> None:
    """End a command that may have loaded libngspice in this process."""
    _exit(code)
