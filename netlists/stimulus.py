"""Stimulus: the pipelined phase clocks and the input-spike PWL sources.

Timing convention (global phase index k, phase k spans [k T, (k+1) T), T = t_circ):

* layer l (1-based) of a network processes sample s (0-based) with reset in phase 3s+l-1, accumulation in phase 3s+l
  and firing in phase 3s+l+1.  Before its first reset (phases < l-1) and after its last sample a layer is held in reset.
* every edge is a linear ramp CENTRED on its nominal time (``t_edge`` for clocks, ``t_spike_edge`` for input spikes),
  so the 50 % point of a phase edge is exactly the phase boundary and that of an input spike's rising edge is t_j.
* input spikes (layer 0 = the stimulus) rise at accum_start + t_j T and fall at the start of layer 1's firing phase
  (when a real previous layer would be reset); t_j >= 1 means no spike.
"""

from __future__ import annotations

import math
from typing import Sequence

from imcpnn.errors import ConfigError

from .design import CellDesign, _fmt


def n_phases(n_layers: int, n_samples: int) -> int:
    """Phases needed for ``n_samples`` through ``n_layers`` layers (the last layer's last firing phase included)."""
    return 3 * (n_samples - 1) + n_layers + 2


def layer_phase_roles(layer: int, n_samples: int, n_phases_total: int) -> list[str]:
    """Role of each global phase for layer ``layer`` (1-based): 'reset', 'accum' or 'fire'."""
    roles = []
    for k in range(n_phases_total):
        r = k - (layer - 1)
        if r < 0 or r // 3 >= n_samples:
            roles.append("reset")
        else:
            roles.append(("reset", "accum", "fire")[r % 3])
    return roles


def pwl_from_levels(levels: Sequence[int], t_circ: float, t_edge: float, high: float) -> str:
    """PWL text of a digital signal with one level per phase; edges centred on phase boundaries."""
    pts: list[tuple[float, float]] = [(0.0, high * levels[0])]
    for k in range(1, len(levels)):
        if levels[k] != levels[k - 1]:
            tb = k * t_circ
            pts.append((tb - t_edge / 2, high * levels[k - 1]))
            pts.append((tb + t_edge / 2, high * levels[k]))
    return _pwl(pts)


def _pwl(pts: list[tuple[float, float]]) -> str:
    # times at 12 significant digits: %.6g would move an input edge by up to 0.1 ns once a transient runs past 10 us
    # (a chunk of more than 3 samples), a timing error the size of the model error being measured
    return "PWL(" + " ".join(f"{float(t):.12g} {_fmt(v)}" for t, v in pts) + ")"


def phase_sources(design: CellDesign, n_layers: int, n_samples: int,
                  layers: Sequence[int] | None = None, extra_phases: int = 0) -> list[str]:
    """Per layer l: ``Vph_l`` (node ``ph_l``, firing phase), ``Vphb_l`` (``phb_l``), ``Vrstb_l`` (``rstb_l``, reset
    active low), over the phases of an ``n_layers`` network and ``extra_phases`` more (all layers in reset);
    ``layers``: only these (1-based; a partition)."""
    P = n_phases(n_layers, n_samples) + extra_phases
    out = []
    for l in (range(1, n_layers + 1) if layers is None else layers):
        roles = layer_phase_roles(l, n_samples, P)
        ph = [1 if r == "fire" else 0 for r in roles]
        rst = [1 if r == "reset" else 0 for r in roles]
        T, te, vdd = design.t_circ, design.t_edge, design.vdd
        out.append(f"Vph_{l} ph_{l} 0 " + pwl_from_levels(ph, T, te, vdd))
        out.append(f"Vphb_{l} phb_{l} 0 " + pwl_from_levels([1 - x for x in ph], T, te, vdd))
        out.append(f"Vrstb_{l} rstb_{l} 0 " + pwl_from_levels([1 - x for x in rst], T, te, vdd))
    return out


def spike_pwl_points(times: Sequence[float], accum_starts: Sequence[float], t_circ: float, t_edge: float,
                     high: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(true, complement) PWL points of one input line over all samples."""
    tru: list[tuple[float, float]] = [(0.0, 0.0)]
    cmp_: list[tuple[float, float]] = [(0.0, high)]
    for tj, ta in zip(times, accum_starts):
        tj = float(tj)
        if math.isnan(tj) or tj < 0:
            raise ConfigError(f"input spike time {tj} must be >= 0 (>= 1 means no spike)")
        if tj >= 1.0:
            continue
        t_up = ta + tj * t_circ
        t_up = max(t_up, ta + t_edge / 2)  # the rising ramp starts no earlier than the accumulation phase
        t_dn = ta + t_circ  # = start of layer 1's firing phase
        t_up = min(t_up, t_dn - 1.5 * t_edge)
        for pts, lo, hi in ((tru, 0.0, high), (cmp_, high, 0.0)):
            pts += [(t_up - t_edge / 2, lo), (t_up + t_edge / 2, hi), (t_dn - t_edge / 2, hi), (t_dn + t_edge / 2, lo)]
    return tru, cmp_


def input_sources(design: CellDesign, input_times, accum_starts: Sequence[float]) -> list[str]:
    """``Vin_j`` (node ``spk_0_j``) and ``Vinb_j`` (``spkb_0_j``) for every input j; input_times is (n_samples, n_in)."""
    n_in = len(input_times[0])
    out = []
    for j in range(n_in):
        tru, cmp_ = spike_pwl_points([row[j] for row in input_times], accum_starts, design.t_circ,
                                     design.t_spike_edge, design.vdd)
        out.append(f"Vin_{j} spk_0_{j} 0 " + _pwl(tru))
        out.append(f"Vinb_{j} spkb_0_{j} 0 " + _pwl(cmp_))
    return out
