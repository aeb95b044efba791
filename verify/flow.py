"""One verification: calibrate the current scale(s) on training samples, simulate the test samples, compare with the
model, write the verification directory (DESIGN.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.extract.cellparams import CellParams
from imcpnn.netlists import CellDesign
from imcpnn.spice.cache import ResultCache
from imcpnn.verify.calibrate import fit_batched
from imcpnn.verify.mapping import Scales
from imcpnn.verify.predict import ModelParams, model_times
from imcpnn.verify.report import write_outputs
from imcpnn.verify.simulate import check_network, simulate, simulate_scales


@dataclass
class Network:
    """What is verified: weights per layer (n_out, n_in), test inputs, optional calibration inputs and labels."""

    weights: list[np.ndarray]
    test_inputs: np.ndarray
    model: ModelParams
    cal_inputs: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    n_classes: int | None = None
    flow: str = "custom"
    source: str = ""


def predicted_class(t_out: np.ndarray, n_classes: int | None) -> np.ndarray:
    t = t_out[:, :n_classes] if n_classes else t_out
    return np.argmin(t, axis=1)


def verify(net: Network, cell: CellParams, design: CellDesign, lib_line: str, out: Path, *, scale_mode: str,
           scales: Scales | None = None, clip: bool = False, chunks: int = 2, workers: int | None = None,
           cache: ResultCache | None = None, wire_cap: float = 0.0, layer_netlist: str | None = None,
           log: Callable[[str], None] = print) -> dict:
    check_network(net.weights, net.test_inputs)
    t_start = time.perf_counter()
    kw = dict(clip=clip, workers=workers, cache=cache, wire_cap=wire_cap, layer_netlist=layer_netlist)
    calibration = None
    if scales is None:
        if scale_mode != "none" and (net.cal_inputs is None or len(net.cal_inputs) == 0):
            raise ConfigError("scale calibration needs calibration samples (training split); or pass --scale")
        cal_target = model_times(net.weights, net.cal_inputs, net.model) if net.cal_inputs is not None else None
        if scale_mode == "none":
            scales = Scales()
        else:
            log(f"calibrating the {scale_mode} current scale on {len(net.cal_inputs)} training samples (SPICE in the loop)")
            calibration = fit_batched(
                lambda cands: simulate_scales(net.weights, net.cal_inputs, cell, design, lib_line, cands,
                                              chunks=chunks, workers=workers, cache=cache, wire_cap=wire_cap,
                                              layer_netlist=layer_netlist),
                cal_target, scale_mode, log, t_circ_ns=cell.t_circ * 1e9)
            scales = calibration.scales
    t_cal = time.perf_counter() - t_start
    log(f"simulating {len(net.test_inputs)} test samples (scale +{scales.pos:.4f} / -{scales.neg:.4f})")
    t0 = time.perf_counter()
    circuit = simulate(net.weights, net.test_inputs, cell, design, lib_line, scales, chunks=chunks, keep_waves=True,
                       **kw)
    t_sim = time.perf_counter() - t0
    model = model_times(net.weights, net.test_inputs, net.model)

    T_ns = cell.t_circ * 1e9
    per_layer = [float(np.sqrt(np.mean((c - m) ** 2)) * T_ns) for c, m in zip(circuit.times, model)]
    pc_model = predicted_class(model[-1], net.n_classes)
    pc_spice = predicted_class(circuit.times[-1], net.n_classes)
    summary = {
        "flow": net.flow,
        "source": net.source,
        "n_samples": int(len(net.test_inputs)),
        "n_calibration": 0 if net.cal_inputs is None else int(len(net.cal_inputs)),
        "rmse_ns": per_layer[-1],
        "rmse_ns_per_layer": per_layer,
        "max_abs_error_ns": float(max(np.abs(c - m).max() for c, m in zip(circuit.times, model)) * T_ns),
        "class_agreement": float(np.mean(pc_model == pc_spice)),
        "accuracy_model": None if net.test_labels is None else float(np.mean(pc_model == net.test_labels)),
        "accuracy_spice": None if net.test_labels is None else float(np.mean(pc_spice == net.test_labels)),
        "scale": scales.as_dict(),
        "scale_mode": scale_mode if calibration is not None or scale_mode == "none" else "given",
        "calibration_rmse_ns": None if calibration is None else calibration.rmse * T_ns,
        "calibration_evaluations": 0 if calibration is None else len(calibration.evaluations),
        "model": net.model.as_dict(),
        "layer_sizes": [int(net.weights[0].shape[1])] + [int(w.shape[0]) for w in net.weights],
        "n_clipped_weights": circuit.n_clipped,
        "chunks": len(circuit.bundles),
        "seconds_calibration": t_cal,
        "seconds_test_simulation": t_sim,
        "cell": {"design": cell.provenance.design, "corner": cell.provenance.corner,
                 "e_rev_plus": cell.e_rev_plus, "e_rev_minus": cell.e_rev_minus, "e_dis": cell.e_dis,
                 "i_unit": cell.i_unit, "c_m": cell.c_m, "v_th": cell.v_th},
    }
    write_outputs(out, net, cell, circuit, model, summary, calibration)
    log(f"output-layer RMSE {summary['rmse_ns']:.2f} ns (per layer: "
        + ", ".join(f"{x:.2f}" for x in per_layer) + f" ns); class agreement {summary['class_agreement']:.0%}")
    return summary
