"""imcpnn.verify: trained weights back into sky130 netlists, SPICE transients, spike-time read-out, model-vs-circuit
error with current-scale calibration, and the comparison of the bottom-up and top-down flows."""

from imcpnn.verify.flow import Network, verify
from imcpnn.verify.mapping import BiasMapper, Scales
from imcpnn.verify.predict import model_times

__all__ = ["BiasMapper", "Network", "Scales", "model_times", "verify"]
