"""imcpnn.spice: ngspice through PySpice. Sessions that load a circuit once and sweep it, a process pool with
per-job timeouts (and a Dask backend), and a content-hashed result cache. Knows nothing about IMC cells."""

from imcpnn.spice.errors import (NgspiceMissing, SpiceConvergenceError, SpiceError, SpiceSyntaxError, SpiceTimeout,
                                 SpiceWorkerDied)
from imcpnn.spice.session import Plot, Session

__all__ = ["NgspiceMissing", "Plot", "Session", "SpiceConvergenceError", "SpiceError", "SpiceSyntaxError",
           "SpiceTimeout", "SpiceWorkerDied"]
