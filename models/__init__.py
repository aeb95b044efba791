"""imcpnn.models: pure-PyTorch RC-Spike / TTFS physical neural network (docs/paper.md §1 and §4).

``functional`` holds the solvers (exact event-ordered, DSTD), the firing phase, TTFS and the losses; ``layers`` holds
the RC-Spike nn.Module wrappers and ``ttfs`` the TTFS ones, re-exported here. See docs/models.md for the conventions.
"""
from . import functional
from .functional import fire_time, predict, rcspike_dstd, rcspike_exact
from .layers import RCSpikeConv2d, RCSpikeLinear, SpikeFlatten, SpikeMinPool2d, SpikeNet, make_mlp, mlp_from_weights
from .ttfs import TTFSLinear, make_ttfs_mlp, ttfs_q

__all__ = [
    "functional", "RCSpikeLinear", "RCSpikeConv2d", "SpikeMinPool2d", "SpikeFlatten", "SpikeNet", "make_mlp", "mlp_from_weights",
    "rcspike_exact", "rcspike_dstd", "fire_time", "predict", "TTFSLinear", "make_ttfs_mlp", "ttfs_q",
]
