"""The model of a condition's own cell against the circuit simulated there.

The chip keeps the gate biases it was programmed with; at another corner or temperature those biases drive other
currents. The condition's cell (extracted there) knows both: its bias tables turn each programmed gate voltage into
the current it drives there, which, in that cell's units and the programmed scale, is the weight the circuit really
applies; its neuron model (NeuronModel.from_cell: reversal potentials, firing law, kicks) runs those weights. The
distance between that prediction and the circuit is the model's error at the condition, apart from the programming
drift that the run's own model (trained at the nominal cell) also carries.
"""

from __future__ import annotations

import numpy as np

from imcpnn.cell import CellParams
from imcpnn.neuron import NeuronModel
from imcpnn.verify.flow import predicted_class
from imcpnn.verify.mapping import BiasMapper, Scales
from imcpnn.verify.predict import model_times
from imcpnn.verify.simulate import gate_biases
from imcpnn.verify.spike_errors import layer_errors


def effective_weights(weights: list[np.ndarray], programmed: CellParams, condition: CellParams, scales: Scales,
                      clip: bool) -> list[np.ndarray]:
    """The weights (in `condition`'s units) that the biases programmed through `programmed` apply at `condition`."""
    biases, _ = gate_biases(weights, programmed, scales, clip)
    mapper = BiasMapper(condition)
    out = []
    for (vn, vp), w in zip(biases, weights):
        on_n, on_p = vn > 0, vp < programmed.vdd
        i_n = np.where(on_n, mapper.current_for_gate("n", vn), 0.0)
        i_p = np.where(on_p, mapper.current_for_gate("p", vp), 0.0)
        out.append(i_n / (condition.i_unit * scales.pos) - i_p / (condition.i_unit * scales.neg))
    return out


def condition_model_errors(weights: list[np.ndarray], inputs: np.ndarray, circuit: list[np.ndarray],
                           programmed: CellParams, condition: CellParams, scales: Scales, *, clip: bool, kicks: bool,
                           n_classes: int | None, labels: np.ndarray | None) -> dict:
    """Errors of the condition cell's model against the circuit's spike times (per layer, (samples, n_out))."""
    w_eff = effective_weights(weights, programmed, condition, scales, clip)
    model = model_times(w_eff, inputs, NeuronModel.from_cell(condition, kicks=kicks))
    layers = layer_errors(circuit, model, condition.t_circ * 1e9)
    pc_model = predicted_class(model[-1], n_classes)
    pc_spice = predicted_class(circuit[-1], n_classes)
    return {"rmse_ns": layers[-1]["rmse_ns"], "rmse_ns_fired": layers[-1]["rmse_ns_fired"],
            "class_agreement": float(np.mean(pc_model == pc_spice)),
            "accuracy_model": None if labels is None else float(np.mean(pc_model == labels)),
            "errors_per_layer": layers}
