"""Spike times out of SPICE waveforms: the latched output's rising crossing of Vdd/2 within its firing phase."""

from __future__ import annotations

import numpy as np


def crossing_time(t: np.ndarray, v: np.ndarray, level: float, t0: float, t1: float) -> float | None:
    """First upward crossing of `level` in [t0, t1), linearly interpolated between samples; None if none."""
    i0, i1 = np.searchsorted(t, t0), np.searchsorted(t, t1)
    if i1 - i0 < 2:
        return None
    seg_v = v[i0:i1]
    above = seg_v >= level
    if above[0]:
        # Already high at the window start: the latch fired at the very start (a membrane below threshold)
        return float(t[i0])
    k = np.argmax(above)
    if not above[k]:
        return None
    a, b = i0 + k - 1, i0 + k
    return float(t[a] + (level - v[a]) * (t[b] - t[a]) / (v[b] - v[a]))


def layer_spike_times(t: np.ndarray, waves: dict[str, np.ndarray], nodes: list[str], windows: list[tuple[float, float]],
                      level: float, t_circ: float) -> np.ndarray:
    """(n_samples, n_neurons) spike times in model units (0 = start of the firing phase); no spike = 1."""
    out = np.ones((len(windows), len(nodes)))
    for s, (t0, t1) in enumerate(windows):
        for i, node in enumerate(nodes):
            tc = crossing_time(t, waves[node], level, t0, t1)
            if tc is not None:
                out[s, i] = min(1.0, max(0.0, (tc - t0) / t_circ))
    return out
