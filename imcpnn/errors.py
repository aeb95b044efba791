"""Errors a user can cause. The CLI turns any of these into one line on stderr and a non-zero exit."""


class ImcError(Exception):
    """Base class: the message names the cause and the fix."""

    exit_code = 2


class ConfigError(ImcError):
    """Bad configuration, bad argument or malformed record."""


class MissingDependencyError(ImcError):
    """ngspice, libngspice or the PDK is missing."""

    exit_code = 3
