"""imcpnn.netlists: SPICE text for the charge-domain IMC cell (sky130), generated from typed design records.

No simulation happens here (and no torch): the tests, the benchmark and the other stages run the text.
See docs/circuit.md for the circuit, its sizes, biases and measured figures.
"""

from .cells import layer_subckt, subcircuits
from .design import CellDesign, Fet, Mim, default_design, load_design
from .network import NetlistBundle, network_netlist
from .testbenches import Testbench, column_tb, discharger_tb, sense_drive_tb, sensing_tb, synapse_branch_tb

__all__ = [
    "CellDesign", "Fet", "Mim", "default_design", "load_design", "subcircuits", "layer_subckt",
    "NetlistBundle", "network_netlist", "Testbench", "synapse_branch_tb", "discharger_tb", "sensing_tb",
    "sense_drive_tb",
    "column_tb",
]
