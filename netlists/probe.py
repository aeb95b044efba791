"""The write-and-verify probe netlist: one instance of a network held in DC, so that every synapse's current, every
neuron's discharge current and every neuron's switching point can be measured in place (verify/program.py).

Its devices are those of the network's transient netlist with per-neuron biases (network_netlist with
neuron_biases), line for line and in the same order, under the same seed: ngspice draws a ``*_mm`` section's
mismatch per device in that order, so the probe measures the very instance the transient simulates
(tests/verify/test_program.py compares the device lines). Only sources differ, and sources draw nothing:

* the clocks are DC: ``Vph_<l>`` 0, ``Vphb_<l>`` vdd, ``Vrstb_<l>`` vdd (accumulating, not in reset);
* the spikes into every layer are forced: ``Vin_<l>_<j>`` / ``Vinb_<l>_<j>`` drive ``spk_<l>_<j>`` /
  ``spkb_<l>_<j>`` for l = 0..L-1, all off (0 / vdd); a hidden layer's are forced over its neurons' buffers;
* every membrane is clamped to node ``vclamp`` (source ``Vclamp``, at v0) through its own 0 V ammeter
  ``Vc_<l>_<i>``: the current into the membrane is ``-i(vc_<l>_<i>)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import in_device_form, subcircuits
from .design import CellDesign, _fmt
from .network import NeuronBiases, check_lib_line, check_neuron_biases, layer_lines, options_lines, rail_lines


@dataclass
class ProbeNetlist:
    text: str
    shapes: list[tuple[int, int]]  # per layer (n_in, n_out)
    vdd: float

    def ammeter(self, l: int, i: int) -> str:
        """The clamp source of layer l's (1-based) neuron i."""
        return f"vc_{l}_{i}"

    def sense_node(self, l: int, i: int) -> str:
        """The sensing stage's output of layer l's neuron i (high while the membrane is below V_switch)."""
        return f"xl{l}_n{i}.sense"

    def input_sources(self, l: int, j: int) -> tuple[str, str]:
        """The sources forcing input j of layer l + 1 (l = 0: the network's inputs): (true, complement)."""
        return f"vin_{l}_{j}", f"vinb_{l}_{j}"


def probe_netlist(design: CellDesign, lib_line: str, biases: list[tuple[np.ndarray, np.ndarray]],
                  neuron_biases: list[NeuronBiases], *, wire_cap: float = 0.0, temp: float = 27.0,
                  seed: int | None = None) -> ProbeNetlist:
    """The probe of the network whose transient is ``network_netlist(design, lib_line, biases, ...,
    wire_cap=wire_cap, temp=temp, seed=seed, neuron_biases=neuron_biases)``."""
    lib_line = check_lib_line(lib_line)
    shapes = [(np.asarray(vn).shape[1], np.asarray(vn).shape[0]) for vn, _ in biases]
    nb = check_neuron_biases(neuron_biases, shapes, design.vdd)
    vdd = _fmt(design.vdd)
    sizes = [shapes[0][0]] + [s[1] for s in shapes]
    lines = [f"* imc-pnn write-and-verify probe: design '{design.name}', layers {sizes}",
             lib_line, *options_lines(design, temp, seed), subcircuits(design, ()).rstrip("\n"), *rail_lines(design),
             "* clocks held: accumulating, out of reset"]
    for l in range(1, len(shapes) + 1):
        lines += [f"Vph_{l} ph_{l} 0 DC 0", f"Vphb_{l} phb_{l} 0 DC {vdd}", f"Vrstb_{l} rstb_{l} 0 DC {vdd}"]
    lines.append("* forced input spikes of every layer, all off")
    for l, (n_in, _) in enumerate(shapes):
        for j in range(n_in):
            lines += [f"Vin_{l}_{j} spk_{l}_{j} 0 DC 0", f"Vinb_{l}_{j} spkb_{l}_{j} 0 DC {vdd}"]
    for l, ((vn, vp), b) in enumerate(zip(biases, nb), start=1):
        lines += layer_lines(l, np.asarray(vn, float), np.asarray(vp, float), wire_cap, False, b)
    lines += ["* membrane clamps", f"Vclamp vclamp 0 DC {_fmt(design.v0)}"]
    for l, (_, n_out) in enumerate(shapes, start=1):
        lines += [f"Vc_{l}_{i} mem_{l}_{i} vclamp DC 0" for i in range(n_out)]
    lines.append(".end")
    return ProbeNetlist(in_device_form("\n".join(lines), design, lib_line) + "\n", shapes, design.vdd)
