"""Typed simulator errors. Each carries ngspice's own message lines so the user sees what ngspice said."""

from __future__ import annotations

from imcpnn.errors import ImcError, MissingDependencyError


class SpiceError(ImcError):
    """ngspice reported an error; `.lines` holds its messages."""

    def __init__(self, message: str, lines: list[str] | None = None):
        self.lines = list(lines or [])
        super().__init__(message)


class SpiceSyntaxError(SpiceError):
    """The netlist does not parse (bad line, unknown model, subcircuit or node)."""


class SpiceConvergenceError(SpiceError):
    """Newton iteration failed: timestep too small, gmin/source stepping failed, singular matrix."""


class SpiceTimeout(SpiceError):
    """A job ran past its time limit and its worker was killed."""


class SpiceWorkerDied(SpiceError):
    """The worker process running a job died (crash inside libngspice, killed by the OS)."""


class NgspiceMissing(MissingDependencyError):
    """libngspice or the ngspice CLI is not installed."""
