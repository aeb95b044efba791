"""Spike times out of SPICE waveforms: the latched output's rising crossing of Vdd/2 within its firing phase."""

from __future__ import annotations

import numpy as np

from imcpnn.laws import rising_crossing


def layer_spike_times(t: np.ndarray, waves: dict[str, np.ndarray], nodes: list[str], windows: list[tuple[float, float]],
                      level: float, t_circ: float) -> np.ndarray:
    """(n_samples, n_neurons) spike times in model units (0 = start of the firing phase); no spike = 1."""
    out = np.ones((len(windows), len(nodes)))
    for s, (t0, t1) in enumerate(windows):
        for i, node in enumerate(nodes):
            tc = rising_crossing(t, waves[node], level, t0, t1)
            if tc is not None:
                out[s, i] = min(1.0, max(0.0, (tc - t0) / t_circ))
    return out
