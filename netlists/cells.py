"""Subcircuit text of the cell: synapse, neuron (with its blocks), NAND/inverter and N_in x N_out layer arrays.

Port conventions (all subcircuits use global ground ``0``):

* ``imc_synapse  mem spk spkb vgn vgp vdd``: NMOS branch (memory gate ``vgn``, selector gate ``spk``) sinks current from
  ``mem`` (positive weight), PMOS branch (memory gate ``vgp``, selector gate ``spkb``) sources from ``vdd`` (negative).
* ``imc_neuron   mem spk spkb ph phb rstb v0 vbdis vbsense vdd``: ``ph``/``phb`` = firing phase (active high) and its
  complement, ``rstb`` = reset, active LOW; ``v0`` = the resting-potential rail (1.3 V), ``vbdis``/``vbsense`` = biases.
  ``spk`` rises 0 -> vdd when the membrane falls below V_switch during the firing phase and stays high until reset;
  ``spkb`` is its complement.
* ``imc_layer_<n_in>x<n_out>``: ports ``in_0..in_{n_in-1} inb_0.. mem_0..mem_{n_out-1} out_0.. outb_0.. ph phb rstb v0
  vbdis vbsense vdd vn_<i>_<j>.. vp_<i>_<j>..`` (i = output neuron, j = input; row-major, i outer). With a split
  supply (energy reporting, verify/energy.py) a ``vdd_syn`` port follows ``vdd``: it feeds the synapses (PMOS branch
  source and body), ``vdd`` the neurons; the devices and their connections are otherwise the same.
"""

from __future__ import annotations

from typing import Callable, Sequence

from imcpnn.pdk.flat import flatten_netlist

from .design import CellDesign

SYNAPSE = "imc_synapse"
NEURON = "imc_neuron"
SENSE = "imc_sense"
DISCHARGER = "imc_discharger"
NAND2 = "imc_nand2"
INV = "imc_inv"


def layer_name(n_in: int, n_out: int) -> str:
    return f"imc_layer_{n_in}x{n_out}"


def synapse_branch_lines(design: CellDesign, branch: str, mem: str, spk: str, vg: str, vdd: str, tag: str) -> list[str]:
    """Instance lines of one synapse branch (exactly as in the array); ``spk`` is the selector gate
    (the spike for the NMOS branch, its complement for the PMOS branch)."""
    if branch == "n":
        mem_d, sel_d, rail, body = design.syn_n_mem, design.syn_n_sel, "0", "0"
    elif branch == "p":
        mem_d, sel_d, rail, body = design.syn_p_mem, design.syn_p_sel, vdd, vdd
    else:
        raise ValueError("branch must be 'n' or 'p'")
    x = f"{branch}x{tag}"
    if design.syn_order == "memory":  # memory drain on the membrane, selector towards the rail
        return [mem_d.instance(f"{branch.upper()}M{tag}", mem, vg, x, body),
                sel_d.instance(f"{branch.upper()}S{tag}", x, spk, rail, body)]
    return [sel_d.instance(f"{branch.upper()}S{tag}", mem, spk, x, body),
            mem_d.instance(f"{branch.upper()}M{tag}", x, vg, rail, body)]


def synapse_subckt(design: CellDesign) -> str:
    lines = [f".subckt {SYNAPSE} mem spk spkb vgn vgp vdd"]
    lines += synapse_branch_lines(design, "n", "mem", "spk", "vgn", "vdd", "")
    lines += synapse_branch_lines(design, "p", "mem", "spkb", "vgp", "vdd", "")
    lines.append(f".ends {SYNAPSE}")
    return "\n".join(lines)


def gates_subckt(design: CellDesign) -> str:
    n, p = design.logic_n, design.logic_p
    bn, bp = design.buf_n, design.buf_p
    return "\n".join([
        f".subckt {NAND2} a b y vdd",
        p.instance("PA", "y", "a", "vdd", "vdd"),
        p.instance("PB", "y", "b", "vdd", "vdd"),
        n.instance("NA", "y", "a", "n1", "0"),
        n.instance("NB", "n1", "b", "0", "0"),
        f".ends {NAND2}",
        f".subckt {INV} a y vdd",
        bp.instance("P", "y", "a", "vdd", "vdd"),
        bn.instance("N", "y", "a", "0", "0"),
        f".ends {INV}",
    ])


def sense_lines(design: CellDesign, mem: str, out: str, phb: str, vbsense: str, vdd: str) -> list[str]:
    """The sensing stage: vdd - EN(phb) - BIAS(vbsense) - INP(mem, HVT) - out - INN(mem, LVT) - gnd;
    OFF(phb) holds ``out`` low outside the firing phase.  ``out`` is high when mem < V_switch."""
    return [
        design.sense_en_p.instance("SEN", "sa", phb, vdd, vdd),
        design.sense_bias_p.instance("SBI", "sb", vbsense, "sa", vdd),
        design.sense_in_p.instance("SIP", out, mem, "sb", vdd),
        design.sense_in_n.instance("SIN", out, mem, "0", "0"),
        design.sense_off_n.instance("SOF", out, phb, "0", "0"),
    ]


def discharger_lines(design: CellDesign, mem: str, ph: str, vbdis: str) -> list[str]:
    """The discharger: bias NMOS (drain on the membrane, shields it from ``ph``) over the phase switch to ground."""
    return [
        design.dis_bias.instance("DB", mem, vbdis, "dx", "0"),
        design.dis_sw.instance("DS", "dx", ph, "0", "0"),
    ]


def neuron_subckt(design: CellDesign) -> str:
    lines = [
        f".subckt {SENSE} mem out phb vbsense vdd",
        *sense_lines(design, "mem", "out", "phb", "vbsense", "vdd"),
        f".ends {SENSE}",
        f".subckt {DISCHARGER} mem ph vbdis",
        *discharger_lines(design, "mem", "ph", "vbdis"),
        f".ends {DISCHARGER}",
        f".subckt {NEURON} mem spk spkb ph phb rstb v0 vbdis vbsense vdd",
        "* membrane MIM: top plate = membrane, bottom plate grounded (shield)",
        design.c_m.instance("CM", "mem", "0"),
        "* reset switch: PMOS from the V0 rail, on while rstb = 0",
        design.reset_p.instance("RS", "mem", "rstb", "v0", "vdd"),
        f"XDIS mem ph vbdis {DISCHARGER}",
        f"XSEN mem sense phb vbsense vdd {SENSE}",
        "* set_b = NAND(sense, ph); SR latch q = NAND(set_b, qb), qb = NAND(rstb, q); buffered outputs",
        f"XSET sense ph setb vdd {NAND2}",
        f"XLQ setb qb q vdd {NAND2}",
        f"XLQB rstb q qb vdd {NAND2}",
        f"XBS qb spk vdd {INV}",
        f"XBSB q spkb vdd {INV}",
        f".ends {NEURON}",
    ]
    return "\n".join(lines)


def layer_ports(n_in: int, n_out: int, split_supply: bool = False) -> list[str]:
    ports = [f"in_{j}" for j in range(n_in)] + [f"inb_{j}" for j in range(n_in)]
    ports += [f"mem_{i}" for i in range(n_out)] + [f"out_{i}" for i in range(n_out)] + [f"outb_{i}" for i in range(n_out)]
    ports += ["ph", "phb", "rstb", "v0", "vbdis", "vbsense", "vdd"] + (["vdd_syn"] if split_supply else [])
    ports += [f"vn_{i}_{j}" for i in range(n_out) for j in range(n_in)]
    ports += [f"vp_{i}_{j}" for i in range(n_out) for j in range(n_in)]
    return ports


#: ngspice (up to version 39 at least) maps a subcircuit's ports through a fixed table of 1005 entries (N_GLOBAL_NODES
#: in its subckt.c) and exits on a larger one; a layer with more ports (above 21x21) is written out where it is used
#: instead of as an ``imc_layer_*`` subcircuit (network.py)
MAX_SUBCKT_PORTS = 1000


def layer_fits_subckt(n_in: int, n_out: int, split_supply: bool = False) -> bool:
    return len(layer_ports(n_in, n_out, split_supply)) <= MAX_SUBCKT_PORTS


def layer_body(n_in: int, n_out: int, node: Callable[[str], str] = str, prefix: str = "",
               neurons: Sequence[int] | None = None, split_supply: bool = False,
               neuron_biases: bool = False) -> list[str]:
    """The instance lines of an N_in x N_out layer, its ports renamed by ``node`` and instance names prefixed;
    ``neurons``: only these output neurons (indices within the layer; a partition, verify/partition.py);
    ``split_supply``: the synapses on the ``vdd_syn`` port instead of ``vdd``; ``neuron_biases``: neuron i's
    discharger and sensing-stage biases on nodes of its own, ``vbdis_<i>`` and ``vbsense_<i>`` (a chip whose
    neurons are trimmed one by one, verify/program.py), instead of the shared ``vbdis`` and ``vbsense``."""
    if n_in < 1 or n_out < 1:
        raise ValueError("n_in and n_out must be >= 1")
    rows = range(n_out) if neurons is None else neurons
    syn_vdd = node("vdd_syn" if split_supply else "vdd")
    lines = []
    for i in rows:
        for j in range(n_in):
            lines.append(f"X{prefix}S{i}_{j} {node(f'mem_{i}')} {node(f'in_{j}')} {node(f'inb_{j}')} "
                         f"{node(f'vn_{i}_{j}')} {node(f'vp_{i}_{j}')} {syn_vdd} {SYNAPSE}")
    for i in rows:
        vb = (f"vbdis_{i}", f"vbsense_{i}") if neuron_biases else ("vbdis", "vbsense")
        ports = [f"mem_{i}", f"out_{i}", f"outb_{i}", "ph", "phb", "rstb", "v0", *vb, "vdd"]
        lines.append(f"X{prefix}N{i} " + " ".join(node(p) for p in ports) + f" {NEURON}")
    return lines


def layer_subckt(design: CellDesign, n_in: int, n_out: int, split_supply: bool = False) -> str:
    """An N_in x N_out synapse array with its N_out neurons; one gate-bias port per memory transistor."""
    name = layer_name(n_in, n_out)
    lines = [f".subckt {name} " + " ".join(layer_ports(n_in, n_out, split_supply)),
             *layer_body(n_in, n_out, split_supply=split_supply), f".ends {name}"]
    return "\n".join(lines)


def subcircuits(design: CellDesign, layer_shapes: tuple[tuple[int, int], ...] | list[tuple[int, int]] = (),
                split_supply: bool = False) -> str:
    """All cell subcircuits (synapse, gates, sensing, discharger, neuron) plus one layer subcircuit per distinct
    ``(n_in, n_out)`` in ``layer_shapes`` (in first-seen order) that ngspice can take as a subcircuit."""
    parts = [f"* imc-pnn cell '{design.name}'", synapse_subckt(design), gates_subckt(design), neuron_subckt(design)]
    seen: list[tuple[int, int]] = []
    for s in layer_shapes:
        s = (int(s[0]), int(s[1]))
        if s not in seen and layer_fits_subckt(*s, split_supply):
            seen.append(s)
            parts.append(layer_subckt(design, *s, split_supply))
    return "\n".join(parts) + "\n"


def in_device_form(text: str, design: CellDesign, lib_line: str) -> str:
    """A complete netlist (holding ``lib_line``) in the design's device form: as written (sky130 wrapper
    subcircuits) or flat (each device a direct instance of its model bin, imcpnn.pdk.flat)."""
    return flatten_netlist(text, lib_line) if design.device_form == "flat" else text
