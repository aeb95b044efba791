"""Energy per inference from the verification's own transient (a split-supply netlist, netlists/network.py).

Each layer l has its own rails, so each source's current is one domain of one layer; a sample's share is the charge
over that layer's three phases of the sample: accumulation, firing and the reset after them, which restores what the
sample used (phases 3s+l .. 3s+l+2; they tile the transient, so nothing is counted twice, and a split-supply netlist
runs one phase longer so that the last layer's last reset is in it). What each domain holds and what a chip's
supplies would deliver:

* synapse: the synapses' own supply ``vdd_syn`` (the PMOS branch's charge into the membrane; the NMOS branch drains
  the membrane, which the reset rail refills, so excitatory weights cost reset charge, not synapse charge):
  VDD x net charge out of the source.
* neuron: the neurons' ``vdd`` (sense stage, latch, the output buffers, which drive the next layer's spike lines).
* reset: the V0 rail refilling the membrane at reset; counted as V0 x charge (a V0 regulator fed from VDD would
  draw VDD x charge: x1.38 on this domain).
* clock: the phase and reset clocks of a layer (ideal PWL sources here), and input: the stimulus (input spike lines,
  layer 1's window). Both are priced as CMOS buffers on VDD (buffer_current): VDD x the net charge out of the source
  while its line rises or is high; what it sinks while falling or low goes to ground through the pull-down.
* bias: the DC gate-bias sources (per-synapse vn/vp, the neurons' vbdis/vbsense). They drive gates only: their net
  charge is coupling through gate capacitance, near zero over a cycle; counted as V x net charge, shown apart.

Phases outside every sample's window (the layers held in reset before their first and after their last sample) are
reported as idle, not per inference. An edge on a window boundary (clock edges are centred on them) is split between
the two windows at the boundary.
"""

from __future__ import annotations

import re

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.netlists.network import NetlistBundle, split_rail_sources
from imcpnn.spice.analyses import Current

DOMAINS = ("synapse", "neuron", "reset", "clock", "input", "bias")
#: domains of ideal PWL sources, priced as CMOS buffers (buffer_current)
DRIVEN = ("clock", "input")
#: the three groups of the issue: what each adds up
GROUPS = {"synapses": ("synapse",), "neurons": ("neuron", "reset"), "drivers": ("clock", "input"), "bias": ("bias",)}
_DC = re.compile(r"^(v\S*)\s+\S+\s+0\s+dc\s+(\S+)\s*$", re.IGNORECASE)


#: the most per-synapse gate-bias sources whose currents are read back: each is a vector as long as the transient
#: (a 64-128-10 network has 19k of them, gigabytes), and they carry gate coupling only (about zero net energy)
MAX_GATE_BIAS_VECTORS = 2000


def counts_gate_biases(bundle: NetlistBundle) -> bool:
    """Whether the per-synapse gate-bias sources are read back (MAX_GATE_BIAS_VECTORS)."""
    return sum(2 * np.asarray(b["vn"]).size for b in bundle.bias_sources) <= MAX_GATE_BIAS_VECTORS


def layer_sources(bundle: NetlistBundle, l: int) -> dict[str, list[str]]:
    """Domain -> the source names (lower case) of layer ``l`` (1-based); the input drivers go with layer 1."""
    rails = {k: v.lower() for k, v in split_rail_sources(l).items()}
    bias = [rails["vbdis"], rails["vbsense"]]
    if counts_gate_biases(bundle):
        for kind in ("vn", "vp"):  # source Vn_l_i_j drives node vn_l_i_j
            bias += [str(n) for n in np.asarray(bundle.bias_sources[l - 1][kind]).ravel()]
    inputs = []
    if l == 1:
        inputs = [f"vin_{j}" for j in range(len(bundle.input_nodes))] + \
                 [f"vinb_{j}" for j in range(len(bundle.inputb_nodes))]
    return {"synapse": [rails["vdd_syn"]], "neuron": [rails["vdd"]], "reset": [rails["v0"]],
            "clock": [f"vph_{l}", f"vphb_{l}", f"vrstb_{l}"], "input": inputs, "bias": bias}


def supply_vectors(bundle: NetlistBundle) -> list[str]:
    """The branch-current vectors an energy report needs from a split-supply transient."""
    if not bundle.split_supply:
        raise ConfigError("energy needs a split-supply netlist (network_netlist(split_supply=True))")
    out = []
    for l in range(1, bundle.n_layers + 1):
        for domain, sources in layer_sources(bundle, l).items():
            out += [Current(s).vector for s in sources]
            if domain in DRIVEN:
                out += [driven_node(s) for s in sources]
    return out


def driven_node(source: str) -> str:
    """The line a clock or input source drives (``Vph_1`` -> ``ph_1``, ``Vin_0`` -> ``spk_0_0``)."""
    if source.startswith("vinb_"):
        return f"spkb_0_{source[5:]}"
    if source.startswith("vin_"):
        return f"spk_0_{source[4:]}"
    return source[1:]


def dc_values(text: str) -> dict[str, float]:
    """Source name (lower case) -> its DC voltage, from the netlist's ``Vname node 0 DC value`` lines."""
    out = {}
    for line in text.splitlines():
        m = _DC.match(line.strip())
        if m:
            out[m.group(1).lower()] = float(m.group(2))
    return out


def buffer_current(i_out: np.ndarray, v: np.ndarray, vdd: float) -> np.ndarray:
    """The supply current of a CMOS buffer driving what an ideal source drives: its output current while the line
    rises or is high (pull-up on: the supply delivers the edge's charge and takes back what couples in), none while it
    falls or is low (pull-down on). Signed, not rectified: an ideal source's current rings about zero on a flat level,
    and rectifying that ringing counted about 15 times the edges' charge on a reset clock (tests/verify)."""
    up = (np.gradient(v) > 0) | (v >= 0.99 * vdd)
    return np.where(up, i_out, 0.0)


def window_charges(t: np.ndarray, i: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Charge of current ``i`` (trapezoid over the simulator's time points) in each [edges[k], edges[k+1])."""
    q = np.concatenate([[0.0], np.cumsum(np.diff(t) * (i[1:] + i[:-1]) / 2)])
    return np.diff(np.interp(edges, t, q))


def layer_edges(bundle: NetlistBundle, l: int) -> np.ndarray:
    """Window edges (s) of layer ``l`` (1-based): sample s spans phases 3s+l .. 3s+l+2."""
    return (3 * np.arange(bundle.n_samples + 1) + l) * bundle.t_circ


def chunk_energy(bundle: NetlistBundle, plot: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Per domain a (n_samples, n_layers) array of energy (J) per sample and layer, and the idle energy per domain
    (outside every sample window), from one transient's plot."""
    t = np.asarray(plot["time"], float)
    full = np.array([t[0], t[-1]])
    dc = dc_values(bundle.text)
    out = {d: np.zeros((bundle.n_samples, bundle.n_layers)) for d in DOMAINS}
    idle = dict.fromkeys(DOMAINS, 0.0)
    for l in range(1, bundle.n_layers + 1):
        edges = layer_edges(bundle, l)
        for domain, sources in layer_sources(bundle, l).items():
            for src in sources:
                i_out = -np.asarray(plot[Current(src).vector], float)  # ngspice: branch current into the + node
                if domain in DRIVEN:
                    e = bundle.vdd * buffer_current(i_out, np.asarray(plot[driven_node(src)], float), bundle.vdd)
                elif src in dc:
                    e = dc[src] * i_out
                else:
                    raise ConfigError(f"energy: no 'DC' line for source {src} in the netlist")
                per = window_charges(t, e, edges)
                out[domain][:, l - 1] += per
                idle[domain] += float(window_charges(t, e, full)[0] - per.sum())
    return out, idle


def synaptic_events(layer_inputs: list[np.ndarray], fan_out: list[int]) -> np.ndarray:
    """Per sample the spike events that reached a synapse: every input line of layer l that spiked in the sample
    (t < 1; the stimulus for layer 1, the layer before's SPICE spikes otherwise) times its n_out synapses."""
    return sum((np.asarray(x) < 1.0).sum(axis=1) * n for x, n in zip(layer_inputs, fan_out))


def _stats(x: np.ndarray) -> dict:
    return {"mean": float(np.mean(x)), "p95": float(np.percentile(x, 95))}


def energy_summary(circuit, inputs: np.ndarray) -> dict:
    """Energy per inference (J) of a verification's test transients (verify/simulate.py CircuitResult with waves):
    mean and p95 over samples, per domain, group and layer, per neuron, and per synaptic event."""
    if not circuit.waves or not all(b.split_supply for b in circuit.bundles):
        raise ConfigError("energy needs the split-supply transients' waveforms (simulate(..., energy=True))")
    L = circuit.bundles[0].n_layers
    n_samples = sum(e - a for a, e in circuit.chunks)
    per = {d: np.zeros((n_samples, L)) for d in DOMAINS}
    idle = dict.fromkeys(DOMAINS, 0.0)
    for b, (a, e), plot in zip(circuit.bundles, circuit.chunks, circuit.waves):
        got, rest = chunk_energy(b, plot)
        for d in DOMAINS:
            per[d][a:e] = got[d]
            idle[d] += rest[d]
    total = sum(per[d].sum(axis=1) for d in DOMAINS)
    n_out = [int(t.shape[1]) for t in circuit.times]
    layer_inputs = [np.asarray(inputs, float)] + list(circuit.times[:-1])
    events = synaptic_events(layer_inputs, n_out)
    syn = per["synapse"].sum(axis=1)
    return {
        "unit": "J",
        "per_inference": _stats(total),
        "per_inference_per_neuron": _stats(total / sum(n_out)),
        "domains": {d: _stats(per[d].sum(axis=1)) for d in DOMAINS},
        "groups": {g: _stats(sum(per[d].sum(axis=1) for d in ds)) for g, ds in GROUPS.items()},
        "per_layer": [_stats(sum(per[d][:, l] for d in DOMAINS)) for l in range(L)],
        "n_neurons": sum(n_out),
        "synaptic_events": _stats(events),
        "synapse_energy_per_event": float(syn.sum() / events.sum()) if events.sum() else None,
        "synapse_and_reset_energy_per_event": float((syn + per["reset"].sum(axis=1)).sum() / events.sum())
        if events.sum() else None,
        "idle": idle,
        "synapse_gate_biases_counted": all(counts_gate_biases(b) for b in circuit.bundles),
        "per_sample": total.tolist(),
        "per_sample_domains": {d: per[d].tolist() for d in DOMAINS},
    }


def _pj(x) -> str:
    return "n/a" if x is None else f"{x * 1e12:.3f}"


def energy_markdown(e: dict) -> str:
    """The report's energy section (verify/report.py)."""
    named = [("**total per inference**", e["per_inference"]), ("per inference per neuron", e["per_inference_per_neuron"]),
             *((f"group {g}", v) for g, v in e["groups"].items()),
             *((f"domain {d}", v) for d, v in e["domains"].items()),
             *((f"layer {l + 1}", v) for l, v in enumerate(e["per_layer"]))]
    rows = [f"| {name} | {_pj(v['mean'])} | {_pj(v['p95'])} |" for name, v in named]
    return "\n".join([
        "## Energy (this run's test transients)", "",
        "Charge x voltage of each supply over each sample's phases (verify/energy.py says what each domain holds).", "",
        "| energy (pJ) | mean | p95 |", "| --- | --- | --- |", *rows, "",
        f"Synaptic events per sample (input spikes x fan-out): mean {e['synaptic_events']['mean']:.1f}; "
        f"synapse-domain energy per event {_pj(e['synapse_energy_per_event'])} pJ, synapse + reset per event "
        f"{_pj(e['synapse_and_reset_energy_per_event'])} pJ. Idle (outside the sample windows, not per inference): "
        f"{_pj(sum(e['idle'].values()))} pJ over the run."
        + ("" if e.get("synapse_gate_biases_counted", True) else
           " The per-synapse gate-bias sources were not read back (too many; gate coupling only)."), ""])
