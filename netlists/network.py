"""The pipelined multi-layer network netlist (one transient streams many samples).

Node names (all lower case, top level):

* input spikes (the stimulus, "layer 0"): ``spk_0_<j>`` / ``spkb_0_<j>``
* layer l = 1..L, neuron i: membrane ``mem_<l>_<i>``, spike ``spk_<l>_<i>`` (0 -> vdd, latched until reset), complement
  ``spkb_<l>_<i>``; clocks ``ph_<l>``, ``phb_<l>``, ``rstb_<l>``; gate biases ``vn_<l>_<i>_<j>`` / ``vp_<l>_<i>_<j>``
  driven by DC sources ``Vn_<l>_<i>_<j>`` / ``Vp_<l>_<i>_<j>`` (i = output neuron, j = input).
* rails: ``vdd`` (source ``Vdd``), ``v0`` (``Vv0``), ``vbdis`` (``Vbdis``), ``vbsense`` (``Vbsense``). With
  ``split_supply`` (energy reporting, verify/energy.py) every layer l has its own rails instead: ``vdd_<l>``
  (neurons, ``Vdd_<l>``), ``vdds_<l>`` (synapses, ``Vdds_<l>``), ``v0_<l>``, ``vbdis_<l>``, ``vbsense_<l>``
  (``Vv0_<l>``...), so each source's current is one domain of one layer; the same voltages, the same circuit.

The bundle's ``spike_nodes``/``mem_nodes`` and window helpers index layers from 0 (= layer 1 of the node names).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.spice.analyses import Tran

from .cells import in_device_form, layer_body, layer_fits_subckt, layer_name, layer_ports, subcircuits
from .design import CellDesign, _fmt
from .stimulus import input_sources, n_phases, phase_sources


def check_lib_line(lib_line: str) -> str:
    s = lib_line.strip()
    if not (s.lower().startswith(".lib") or s.lower().startswith(".include")):
        raise ConfigError(f"lib_line must be a '.lib \"<path>\" <section>' or '.include' line, got {lib_line!r}")
    return s


PDK_INCLUDE = "pdk.spice"


def portable_netlist(text: str, lib_line: str) -> tuple[str, str]:
    """A netlist as exported for people, and the `pdk.spice` to write beside it.

    The simulated text names the models by an absolute path on this machine (and the result cache keys on it). The
    exported copy includes `pdk.spice` instead, which ngspice finds next to the netlist; that one-line file holds
    the model line, the only thing to change on another machine."""
    line = check_lib_line(lib_line)
    lines = text.split("\n")
    if line not in lines:
        raise ConfigError(f"the netlist does not contain its model line {line!r}")
    lines[lines.index(line)] = f'.include "{PDK_INCLUDE}"'
    pdk = ("* sky130 models for the netlists in this directory. On another machine replace the line below with\n"
           "* the output of `imc-extract pdk path --corner <corner>` as: .lib \"<that path>\" <corner>\n"
           f"{line}\n")
    return "\n".join(lines), pdk


SEED_RANGE = (1, 2**31 - 1)  # what ngspice 39 accepts as `.options seed` (0 and 2**32 are skipped with a warning)


def check_seed(seed: int | None) -> int | None:
    if seed is not None and not (isinstance(seed, int) and SEED_RANGE[0] <= seed <= SEED_RANGE[1]):
        raise ConfigError(f"mismatch seed {seed!r} must be an integer in [{SEED_RANGE[0]}, {SEED_RANGE[1]}]")
    return seed


def options_lines(design: CellDesign, temp: float = 27.0, seed: int | None = None) -> list[str]:
    """Simulator options used by every transient netlist (accuracy over speed where it matters for ns timing) and the
    temperature (C) the devices are simulated at. `seed` fixes ngspice's random numbers: the mismatch draws (AGAUSS)
    of a `*_mm` section, taken per device while the netlist is expanded, in the order of the device lines. In the
    netlist rather than a `set rndseed` before loading: the result cache keys on it and a netlist run by hand draws
    the same circuit."""
    lines = [f".temp {float(temp):g}",
             f".options reltol={_fmt(design.reltol)} chgtol={_fmt(design.chgtol)} method={design.method}"]
    if design.bypass:
        lines.append(".options bypass=1")
    if check_seed(seed) is not None:
        lines.append(f".options seed={seed}")
    return lines


@dataclass
class NetlistBundle:
    """A complete network netlist plus the maps a user needs to run it and read it."""

    text: str
    tran: str
    n_layers: int
    n_samples: int
    t_circ: float
    t_stop: float
    spike_nodes: list[list[str]]
    spikeb_nodes: list[list[str]]
    mem_nodes: list[list[str]]
    input_nodes: list[str]
    inputb_nodes: list[str]
    bias_sources: list[dict[str, np.ndarray]] = field(default_factory=list)
    vdd: float = 1.8
    lib_line: str = ""
    #: a partition's (netlists/partition.py) neurons: spike node -> the vectors of its latch outputs (q, qb), which
    #: the partitions of the next layer replay into their copies of the neuron's output buffers
    latch_nodes: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: per layer, rails of their own (split_rail_sources): supply currents can be read per domain
    split_supply: bool = False

    def fire_window(self, layer: int, sample: int) -> tuple[float, float]:
        """(start, end) in seconds of the firing phase of ``layer`` (0-based) for ``sample``."""
        k = 3 * sample + (layer + 1) + 1
        return (k * self.t_circ, (k + 1) * self.t_circ)

    def accum_window(self, layer: int, sample: int) -> tuple[float, float]:
        k = 3 * sample + (layer + 1)
        return (k * self.t_circ, (k + 1) * self.t_circ)

    def reset_window(self, layer: int, sample: int) -> tuple[float, float]:
        k = 3 * sample + layer
        return (k * self.t_circ, (k + 1) * self.t_circ)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _check_biases(biases, design: CellDesign, n_in0: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    n_in = n_in0
    for l, pair in enumerate(biases):
        if len(pair) != 2:
            raise ConfigError(f"biases[{l}] must be a (vn, vp) pair")
        vn, vp = (np.asarray(pair[0], dtype=float), np.asarray(pair[1], dtype=float))
        if vn.ndim != 2 or vn.shape != vp.shape:
            raise ConfigError(f"biases[{l}]: vn {vn.shape} and vp {vp.shape} must be equal 2-D (n_out, n_in) arrays")
        if vn.shape[1] != n_in:
            raise ConfigError(f"biases[{l}] has n_in={vn.shape[1]} but the layer before has {n_in} outputs")
        for a, nm in ((vn, "vn"), (vp, "vp")):
            if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > design.vdd:
                raise ConfigError(f"biases[{l}].{nm} must be finite gate voltages within [0, vdd={design.vdd}]")
        out.append((vn, vp))
        n_in = vn.shape[0]
    return out


@dataclass(frozen=True)
class NeuronBiases:
    """A layer's neurons each on a discharger and a sensing-stage bias of their own (V, one per output neuron): a
    chip whose neurons were trimmed one by one (verify/program.py) rather than sharing the rails ``vbdis`` and
    ``vbsense``. Sources ``Vbdis_<l>_<i>`` / ``Vbsense_<l>_<i>`` drive nodes ``vbdis_<l>_<i>`` / ``vbsense_<l>_<i>``."""

    v_b_dis: np.ndarray
    v_b_sense: np.ndarray


def check_neuron_biases(nb: list[NeuronBiases] | None, shapes: list[tuple[int, int]],
                        vdd: float) -> list[NeuronBiases] | None:
    """``nb`` as float arrays, one per layer of ``shapes`` ((n_in, n_out) each), within [0, vdd]."""
    if nb is None:
        return None
    if len(nb) != len(shapes):
        raise ConfigError(f"neuron biases for {len(nb)} layers but the network has {len(shapes)}")
    out = []
    for l, (b, (_, n_out)) in enumerate(zip(nb, shapes), start=1):
        d, s = np.asarray(b.v_b_dis, float), np.asarray(b.v_b_sense, float)
        for a, nm in ((d, "v_b_dis"), (s, "v_b_sense")):
            if a.shape != (n_out,) or not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > vdd:
                raise ConfigError(f"layer {l} neuron biases: {nm} must be {n_out} finite voltages within [0, {vdd}]")
        out.append(NeuronBiases(d, s))
    return out


def layer_lines(l: int, vn: np.ndarray, vp: np.ndarray, wire_cap: float, split: bool,
                neuron: NeuronBiases | None = None) -> list[str]:
    """Layer ``l`` (1-based): its gate-bias sources, the layer instance wired to the layers around it, wire caps;
    ``split``: its own rails (split_rail_lines); ``neuron``: per-neuron biases, the layer then written out
    instance by instance (the same devices in the same order as its subcircuit, so the same Monte-Carlo draws)."""
    n_out, n_in = vn.shape
    lines = [f"* layer {l}: {n_in} x {n_out}", *bias_lines(l, vn, vp, range(n_out))]
    conn = layer_connections(l, n_in, n_out, split)
    if neuron is not None:
        for i in range(n_out):
            lines += [f"Vbdis_{l}_{i} vbdis_{l}_{i} 0 DC {_fmt(neuron.v_b_dis[i])}",
                      f"Vbsense_{l}_{i} vbsense_{l}_{i} 0 DC {_fmt(neuron.v_b_sense[i])}"]
            conn.update({f"vbdis_{i}": f"vbdis_{l}_{i}", f"vbsense_{i}": f"vbsense_{l}_{i}"})
        lines += layer_body(n_in, n_out, conn.__getitem__, prefix=f"L{l}_", split_supply=split, neuron_biases=True)
    elif layer_fits_subckt(n_in, n_out, split):
        lines.append(f"XL{l} " + " ".join(conn[p] for p in layer_ports(n_in, n_out, split))
                     + f" {layer_name(n_in, n_out)}")
    else:
        lines += layer_body(n_in, n_out, conn.__getitem__, prefix=f"L{l}_", split_supply=split)
    if wire_cap > 0:
        lines += [f"Cw_{l}_{i} mem_{l}_{i} 0 {_fmt(wire_cap)}" for i in range(n_out)]
    return lines


def bias_lines(l: int, vn: np.ndarray, vp: np.ndarray, rows, cols=None) -> list[str]:
    """The gate-bias DC sources of layer ``l`` (1-based) for output neurons ``rows`` and inputs ``cols`` (all)."""
    cols = range(vn.shape[1]) if cols is None else cols
    lines = []
    for i in rows:
        for j in cols:
            lines.append(f"Vn_{l}_{i}_{j} vn_{l}_{i}_{j} 0 DC {_fmt(vn[i, j])}")
            lines.append(f"Vp_{l}_{i}_{j} vp_{l}_{i}_{j} 0 DC {_fmt(vp[i, j])}")
    return lines


def layer_connections(l: int, n_in: int, n_out: int, split_supply: bool = False) -> dict[str, str]:
    """Layer ``l``'s subcircuit ports -> the network's node names (module docstring)."""
    conn = {**{f"in_{j}": f"spk_{l - 1}_{j}" for j in range(n_in)},
            **{f"inb_{j}": f"spkb_{l - 1}_{j}" for j in range(n_in)},
            **{f"mem_{i}": f"mem_{l}_{i}" for i in range(n_out)},
            **{f"out_{i}": f"spk_{l}_{i}" for i in range(n_out)},
            **{f"outb_{i}": f"spkb_{l}_{i}" for i in range(n_out)},
            "ph": f"ph_{l}", "phb": f"phb_{l}", "rstb": f"rstb_{l}", "v0": "v0", "vbdis": "vbdis",
            "vbsense": "vbsense", "vdd": "vdd"}
    for i in range(n_out):
        for j in range(n_in):
            conn[f"vn_{i}_{j}"] = f"vn_{l}_{i}_{j}"
            conn[f"vp_{i}_{j}"] = f"vp_{l}_{i}_{j}"
    if split_supply:
        conn.update({"vdd": f"vdd_{l}", "vdd_syn": f"vdds_{l}", "v0": f"v0_{l}", "vbdis": f"vbdis_{l}",
                     "vbsense": f"vbsense_{l}"})
    return conn


def rail_lines(design: CellDesign) -> list[str]:
    return ["* rails and biases", f"Vdd vdd 0 DC {_fmt(design.vdd)}", f"Vv0 v0 0 DC {_fmt(design.v0)}",
            f"Vbdis vbdis 0 DC {_fmt(design.v_b_dis)}", f"Vbsense vbsense 0 DC {_fmt(design.v_b_sense)}"]


def split_rail_sources(l: int) -> dict[str, str]:
    """Layer ``l``'s rail sources of a split-supply netlist: rail (port name) -> source name."""
    return {"vdd": f"Vdd_{l}", "vdd_syn": f"Vdds_{l}", "v0": f"Vv0_{l}", "vbdis": f"Vbdis_{l}",
            "vbsense": f"Vbsense_{l}"}


def split_rail_lines(design: CellDesign, n_layers: int) -> list[str]:
    """Per layer, its own rail sources at the rails' voltages (split_rail_sources)."""
    volts = {"vdd": design.vdd, "vdd_syn": design.vdd, "v0": design.v0, "vbdis": design.v_b_dis,
             "vbsense": design.v_b_sense}
    lines = ["* rails and biases, per layer (split supply)"]
    for l in range(1, n_layers + 1):
        conn = layer_connections(l, 0, 0, True)
        lines += [f"{src} {conn[rail]} 0 DC {_fmt(volts[rail])}" for rail, src in split_rail_sources(l).items()]
    return lines


def network_netlist(design: CellDesign, lib_line: str, biases, input_times, *, wire_cap: float = 0.0,
                    title: str | None = None, temp: float = 27.0, seed: int | None = None,
                    split_supply: bool = False, neuron_biases: list[NeuronBiases] | None = None) -> NetlistBundle:
    """A pipelined L-layer network streaming ``input_times.shape[0]`` samples in one transient.

    biases: per layer a pair (vn, vp) of (n_out, n_in) gate voltages (the unused branch already off: vn = 0, vp = vdd).
    input_times: (n_samples, n_in) spike times in model units; t >= 1 = no spike.
    wire_cap: extra capacitance (F) from every membrane node to ground (dendrite wiring), default 0.
    temp: the simulation temperature (C); verification passes the cell's.
    seed: ngspice's random seed (options_lines): with a `*_mm` section, one Monte-Carlo instance of the circuit. The
    draws follow the device lines, which do not depend on the samples: every chunk of samples of one seed is the same
    physical circuit (tests/verify/test_mc_chunks.py).
    split_supply: every layer on rails of its own, synapses apart from neurons (split_rail_lines; for energy
    reporting), and one more phase at the end, in which the last layer resets after its last sample. Off, the
    netlist text (and so the result cache key) is the one without energy reporting.
    neuron_biases: per layer, every neuron's own discharger and sensing-stage bias (NeuronBiases).
    """
    lib_line = check_lib_line(lib_line)
    x = np.asarray(input_times, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"input_times must be a non-empty (n_samples, n_in) array, got shape {x.shape}")
    if len(biases) < 1:
        raise ConfigError("at least one layer of biases is needed")
    if wire_cap < 0:
        raise ConfigError("wire_cap must be >= 0")
    bl = _check_biases(biases, design, x.shape[1])
    L, S = len(bl), x.shape[0]
    T = design.t_circ
    extra = 1 if split_supply else 0  # the last layer's reset after its last sample: that sample's refill charge
    P = n_phases(L, S) + extra
    t_stop = P * T
    shapes = [(vn.shape[1], vn.shape[0]) for vn, _ in bl]
    nb = check_neuron_biases(neuron_biases, shapes, design.vdd)

    lines = [f"* imc-pnn network: design '{design.name}', {L} layers {[shapes[0][0]] + [s[1] for s in shapes]}, "
             f"{S} samples" + (f" ({title})" if title else ""),
             lib_line, *options_lines(design, temp, seed),
             subcircuits(design, () if nb else shapes, split_supply).rstrip("\n"),
             *(split_rail_lines(design, L) if split_supply else rail_lines(design)),
             "* phase clocks (edges of t_edge centred on the phase boundaries)",
             *phase_sources(design, L, S, extra_phases=extra),
             "* input spikes (layer 0), true and complement",
             *input_sources(design, x.tolist(), [(3 * s + 1) * T for s in range(S)])]
    spike_nodes, spikeb_nodes, mem_nodes, bias_src = [], [], [], []
    for l, (vn, vp) in enumerate(bl, start=1):
        n_out, n_in = vn.shape
        lines += layer_lines(l, vn, vp, wire_cap, split_supply, None if nb is None else nb[l - 1])
        spike_nodes.append([f"spk_{l}_{i}" for i in range(n_out)])
        spikeb_nodes.append([f"spkb_{l}_{i}" for i in range(n_out)])
        mem_nodes.append([f"mem_{l}_{i}" for i in range(n_out)])
        bias_src.append({"vn": np.array([[f"vn_{l}_{i}_{j}" for j in range(n_in)] for i in range(n_out)]),
                         "vp": np.array([[f"vp_{l}_{i}_{j}" for j in range(n_in)] for i in range(n_out)])})
    tran = Tran(design.t_edge / 2, t_stop, 0.0, design.max_step).command()
    lines += [f".{tran}", ".end"]
    text = in_device_form("\n".join(lines), design, lib_line) + "\n"
    return NetlistBundle(text=text, tran=tran, n_layers=L, n_samples=S, t_circ=T, t_stop=t_stop,
                         spike_nodes=spike_nodes, spikeb_nodes=spikeb_nodes, mem_nodes=mem_nodes,
                         input_nodes=[f"spk_0_{j}" for j in range(x.shape[1])],
                         inputb_nodes=[f"spkb_0_{j}" for j in range(x.shape[1])], bias_sources=bias_src,
                         vdd=design.vdd, lib_line=lib_line, split_supply=split_supply)
