"""One partition of a network as its own transient: some neurons of one layer (verify/partition.py plans them).

A partition of layer l holds its neurons (synapses and neuron cells, as in the whole network) on the network's time
axis and node names, with layer l's clocks only. Its input lines are driven as in the whole network:

* layer 1: by the stimulus sources (netlists/stimulus.py);
* layer l > 1: by a copy of each upstream neuron's output buffers (``imc_inv``, ``XBS``/``XBSB`` in the neuron cell)
  whose inputs replay that neuron's latch outputs (q, qb) as simulated in the upstream layer's partition, so the
  line's edges come from the same driver into the same load.

Every spike line carries its real fan-out: the synapses of the neurons outside the partition that read the line
(other neurons of layer l on the input lines, all of layer l+1 on the partition's own outputs) are there as the same
``imc_synapse`` devices, their membrane pin on the V0 rail (the membrane they would load is not simulated here): each
with its own gate biases ('devices'), or per line one instance of multiplicity m per branch state ('lumped', the
default: a partition then holds its own synapses plus 3 per line instead of the whole layer's).

The transient of layer l < L runs one phase past the layer's last firing phase, to its reset, whose falling
spike-line edges the next layer sees in its last firing phase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.spice.analyses import Tran

from .cells import INV, SYNAPSE, in_device_form, layer_body, subcircuits, synapse_branch_lines
from .design import CellDesign, _fmt
from .network import (NetlistBundle, bias_lines, check_lib_line, layer_connections, options_lines, rail_lines,
                      _check_biases)
from .stimulus import input_sources, n_phases, phase_sources


@dataclass(frozen=True)
class Partition:
    """Output neurons ``neurons`` (indices within the layer) of layer ``layer`` (1-based)."""

    layer: int
    neurons: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"layer{self.layer}_n{self.neurons[0]}-{self.neurons[-1]}"


def latch_vectors(layer: int, neuron: int) -> tuple[str, str]:
    """The vector names of a partition neuron's latch outputs (q, qb): ngspice's hierarchical node names."""
    inst = f"xl{layer}_n{neuron}"
    return f"{inst}.q", f"{inst}.qb"


def replay_pwl(t: np.ndarray, v: np.ndarray, tol: float = 1e-2) -> str:
    """A PWL that replays a simulated waveform: the samples where it moves by more than ``tol`` (V) from one to the
    next (and their neighbours), so a latch output that sits on a rail costs two points, not thousands. The
    millivolt ripple that clock edges couple onto a rail is left out: replayed as breakpoints picoseconds apart it
    stopped ngspice ("timestep too small"), and an inverter input on its rail does not pass it on. Times at 15
    significant digits: a 6-digit time would move an edge by up to 0.1 ns at 10 us."""
    t, v = np.asarray(t, float), np.asarray(v, float)
    moving = np.abs(np.diff(v)) > tol
    keep = np.zeros(len(v), bool)
    keep[[0, -1]] = True
    keep[:-1] |= moving
    keep[1:] |= moving
    pts, last = [], None
    for ti, vi in zip(t[keep], v[keep]):
        ts = f"{ti:.15g}"
        if ts != last:
            pts.append(f"{ts} {vi:.9g}")
            last = ts
    return "PWL(" + " ".join(pts) + ")"


def _driver_lines(l: int, drivers: Sequence[tuple[str, str]]) -> list[str]:
    """Layer l's input lines spk_{l-1}_j / spkb_{l-1}_j, driven like a neuron's outputs: qb -> inv -> spk, q -> inv
    -> spkb, with q and qb the replayed latch outputs (drivers[j] = (q PWL, qb PWL))."""
    lines = [f"* layer {l - 1} outputs: latch outputs replayed into the neuron's output buffers"]
    for j, (q, qb) in enumerate(drivers):
        up = f"{l - 1}_{j}"
        lines += [f"Vq_{up} q_{up} 0 {q}", f"Vqb_{up} qb_{up} 0 {qb}",
                  f"XBS_{up} qb_{up} spk_{up} vdd {INV}", f"XBSB_{up} q_{up} spkb_{up} vdd {INV}"]
    return lines


def _load_lines(design: CellDesign, l: int, vn: np.ndarray, vp: np.ndarray, rows: Sequence[int],
                cols: Sequence[int], load: str) -> list[str]:
    """Fan-out load: layer l's synapses (rows = output neurons, cols = inputs) that are not simulated as part of a
    neuron, their membrane pin on the V0 rail. ``load`` 'devices': each synapse with its own gate biases; 'lumped':
    per input line one synapse of multiplicity m for the m whose NMOS branch is on (at their mean gate bias), one for
    those whose PMOS branch is on, one for those with both off: the same devices on the line in at most 3
    synapses instead of len(rows)."""
    if load == "devices":
        lines = bias_lines(l, vn, vp, rows, cols)
        for i in rows:
            for j in cols:
                lines.append(f"XLD{l}_{i}_{j} v0 spk_{l - 1}_{j} spkb_{l - 1}_{j} vn_{l}_{i}_{j} vp_{l}_{i}_{j} vdd "
                             f"{SYNAPSE}")
        return lines
    if load != "lumped":
        raise ConfigError(f"fan-out load {load!r}: use 'devices' or 'lumped'")
    lines, rows, vdd = [], list(rows), design.vdd
    for j in cols:
        gn, gp = vn[rows, j], vp[rows, j]
        n_on, p_on = gn > 0, (gn <= 0) & (gp < vdd)
        groups = (("n", n_on, lambda s: (np.mean(gn[s]), vdd)), ("p", p_on, lambda s: (0.0, np.mean(gp[s]))),
                  ("off", ~(n_on | p_on), lambda s: (0.0, vdd)))
        for tag, sel, gates in groups:
            if sel.any():
                node, (bn, bp) = f"{l}_{j}_{tag}", gates(sel)
                lines += [f"Vln_{node} vln_{node} 0 DC {_fmt(bn)}", f"Vlp_{node} vlp_{node} 0 DC {_fmt(bp)}",
                          *_parallel_synapses(design, int(sel.sum()), f"spk_{l - 1}_{j}", f"spkb_{l - 1}_{j}",
                                              f"vln_{node}", f"vlp_{node}", f"LD{node}")]
    return lines


def _parallel_synapses(design: CellDesign, m: int, spk: str, spkb: str, vgn: str, vgp: str, tag: str) -> list[str]:
    """m synapses in parallel, membrane pin on V0, as one synapse whose devices have multiplicity m: ngspice does not
    pass an ``m=`` on an ``imc_synapse`` instance down through the sky130 wrappers (measured: no effect at all), so
    the device lines carry it."""
    scaled = design.derive(**{k: replace(getattr(design, k), m=getattr(design, k).m * m)
                              for k in ("syn_n_mem", "syn_n_sel", "syn_p_mem", "syn_p_sel")})
    return (synapse_branch_lines(scaled, "n", "v0", spk, vgn, "vdd", tag)
            + synapse_branch_lines(scaled, "p", "v0", spkb, vgp, "vdd", tag))


def partition_netlist(design: CellDesign, lib_line: str, biases, part: Partition, n_samples: int, *,
                      input_times=None, drivers: Sequence[tuple[str, str]] | None = None, wire_cap: float = 0.0,
                      title: str | None = None, temp: float = 27.0, load: str = "lumped") -> NetlistBundle:
    """The transient of partition ``part`` of the network ``biases`` (per layer (vn, vp), as network_netlist).

    Layer 1: ``input_times`` (n_samples, n_in), the stimulus. Layer l > 1: ``drivers``, per upstream neuron the PWL
    texts of its latch outputs (q, qb) (:func:`replay_pwl` of the upstream partition's ``latch_nodes`` vectors).
    ``load``: how the fan-out outside the partition is modelled (:func:`_load_lines`)."""
    lib_line = check_lib_line(lib_line)
    L, l, S = len(biases), part.layer, int(n_samples)
    if not 1 <= l <= L:
        raise ConfigError(f"partition of layer {l}: the network has {L} layers")
    n_in0 = np.asarray(input_times).shape[1] if l == 1 else np.asarray(biases[0][0]).shape[1]
    bl = _check_biases(biases, design, n_in0)
    vn, vp = bl[l - 1]
    n_out, n_in = vn.shape
    rows = list(part.neurons)
    if not rows or min(rows) < 0 or max(rows) >= n_out or len(set(rows)) != len(rows):
        raise ConfigError(f"partition of layer {l}: neurons {rows} are not distinct indices below {n_out}")
    if (l == 1) == (drivers is not None) or (l > 1 and len(drivers) != n_in):
        raise ConfigError(f"partition of layer {l}: layer 1 takes input_times, a later layer one driver per input")
    phases = n_phases(min(l + 1, L), S)  # to the reset after the last firing phase (module docstring)
    lines = [f"* imc-pnn network partition: design '{design.name}', layer {l} neurons {rows[0]}..{rows[-1]} of "
             f"{n_out}, {S} samples" + (f" ({title})" if title else ""),
             lib_line, *options_lines(design, temp), subcircuits(design, ()).rstrip("\n"), *rail_lines(design),
             "* phase clocks of this layer", *phase_sources(design, min(l + 1, L), S, layers=[l])]
    if l == 1:
        lines += ["* input spikes (layer 0), true and complement",
                  *input_sources(design, np.asarray(input_times, float).tolist(),
                                 [(3 * s + 1) * design.t_circ for s in range(S)])]
    else:
        lines += _driver_lines(l, drivers)
    conn = layer_connections(l, n_in, n_out)
    lines += [f"* layer {l}: {n_in} x {n_out}, neurons {rows[0]}..{rows[-1]}", *bias_lines(l, vn, vp, rows),
              *layer_body(n_in, n_out, conn.__getitem__, prefix=f"L{l}_", neurons=rows)]
    if wire_cap > 0:
        lines += [f"Cw_{l}_{i} mem_{l}_{i} 0 {_fmt(wire_cap)}" for i in rows]
    others = [i for i in range(n_out) if i not in rows]
    if others:
        lines += ["* fan-out of the input lines into the layer's other neurons",
                  *_load_lines(design, l, vn, vp, others, range(n_in), load)]
    if l < L:
        lines += ["* fan-out of the outputs into the next layer",
                  *_load_lines(design, l + 1, *bl[l], range(len(bl[l][0])), rows, load)]
    tran = Tran(design.t_edge / 2, phases * design.t_circ, 0.0, design.max_step).command()
    lines += [f".{tran}", ".end"]
    text = in_device_form("\n".join(lines), design, lib_line) + "\n"
    spike = [f"spk_{l}_{i}" for i in rows]
    return NetlistBundle(
        text=text, tran=tran, n_layers=L, n_samples=S, t_circ=design.t_circ, t_stop=phases * design.t_circ,
        spike_nodes=[spike if k == l - 1 else [] for k in range(L)],
        spikeb_nodes=[[f"spkb_{l}_{i}" for i in rows] if k == l - 1 else [] for k in range(L)],
        mem_nodes=[[f"mem_{l}_{i}" for i in rows] if k == l - 1 else [] for k in range(L)],
        input_nodes=[f"spk_{l - 1}_{j}" for j in range(n_in)], inputb_nodes=[f"spkb_{l - 1}_{j}" for j in range(n_in)],
        vdd=design.vdd, lib_line=lib_line,
        latch_nodes={f"spk_{l}_{i}": latch_vectors(l, i) for i in rows} if l < L else {})
