"""Shared CLI plumbing: user errors become one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import click

from imcpnn.errors import ImcError


def user_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ImcError as exc:
            click.echo(f"error: {exc}", err=True)
            _exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            _exit(130)
    return wrapper


def _exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # libngspice sometimes crashes in its own teardown at interpreter exit; our work is flushed, so leave directly.
    os._exit(code)


def finish(code: int = 0) -> None:
    """End a command that may have loaded libngspice in this process."""
    _exit(code)
