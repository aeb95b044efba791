"""One verification: calibrate the current scale(s) on training samples, simulate the test samples, compare with the
model, write the verification directory (docs/architecture.md)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from imcpnn.cell import CellParams
from imcpnn.errors import ConfigError
from imcpnn.netlists import CellDesign
from imcpnn.neuron import NeuronModel
from imcpnn.spice.cache import ResultCache
from imcpnn.verify.calibrate import fit_batched
from imcpnn.verify.energy import energy_summary
from imcpnn.verify.mapping import Scales
from imcpnn.verify.partition import check_partition
from imcpnn.verify.predict import model_times
from imcpnn.verify.program import Programmed
from imcpnn.verify.record import TEST_INPUTS_FILE, VERIFY_SCHEMA_VERSION, VerifyInputs
from imcpnn.verify.report import check_out, hand_command, write_verification
from imcpnn.verify.simulate import (check_energy_partition, check_mc_partition, check_network, simulate,
                                    simulate_scales)
from imcpnn.verify.spike_errors import fmt_ns, layer_errors


@dataclass
class Network:
    """What is verified: weights per layer (n_out, n_in), test inputs, optional calibration inputs and labels."""

    weights: list[np.ndarray]
    test_inputs: np.ndarray
    model: NeuronModel
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
           temp: float | None = None, inputs: VerifyInputs | None = None,
           warnings: list[str] | None = None, log: Callable[[str], None] = print, force: bool = False,
           partition: str = "none", scheduler: str | None = None, mem_limit_gb: float | None = None,
           seed: int | None = None, energy: bool = False, programmed: Programmed | None = None) -> dict:
    """Calibrate (unless `scales` are given), simulate the test samples at `temp` (C; default the cell's), compare
    with the model and write the verification directory: summary['directory'] (`out`, or `out-2`... when another
    verification reached `out` meanwhile); an existing verification in `out` is refused unless `force`. `inputs`
    (what the verification was made from) and `warnings` (characterisation range, printed by the CLI) go into the
    summary. `partition` splits the test simulation (verify/partition.py; calibration simulates the whole network,
    its candidates share one loaded netlist); `scheduler` (a Dask address) and `mem_limit_gb` go to the job runner;
    `seed`: ngspice's random seed, with a `*_mm` section one Monte-Carlo instance (recorded as `mc_seed`); `energy`:
    the test transients on split supplies, energy per inference into summary['energy'] (verify/energy.py);
    `programmed`: the biases a written instance holds (verify/program.py; requires `scales`, the ones it was
    written with), its reads into summary['programming']."""
    if programmed is not None and scales is None:
        raise ConfigError("a programmed instance is simulated at the scale it was written with: pass scales")
    check_network(net.weights, net.test_inputs)
    check_partition(partition, layer_netlist)
    check_mc_partition(partition, seed)
    check_energy_partition(partition, energy)
    check_out(out, force)
    temp = cell.temperature if temp is None else float(temp)
    kw = dict(chunks=chunks, workers=workers, cache=cache, wire_cap=wire_cap, layer_netlist=layer_netlist, temp=temp,
              scheduler=scheduler, mem_limit_gb=mem_limit_gb, seed=seed, energy=energy)
    t_start = time.perf_counter()
    calibration = None
    if scales is None:
        calibration = fit_scales(net, cell, design, lib_line, scale_mode, log, kw)
        scales = calibration.scales if calibration is not None else Scales()
    t_cal = time.perf_counter() - t_start
    log(f"simulating {len(net.test_inputs)} test samples (scale +{scales.pos:.4f} / -{scales.neg:.4f})")
    t0 = time.perf_counter()
    circuit = simulate(net.weights, net.test_inputs, cell, design, lib_line, scales, clip=clip, keep_waves=True,
                       partition=partition, programmed=programmed, **kw)
    t_sim = time.perf_counter() - t0
    model = model_times(net.weights, net.test_inputs, net.model)
    summary = _summary(net, cell, circuit, model, scales, scale_mode, calibration, temp,
                       {"seconds_calibration": t_cal, "seconds_test_simulation": t_sim})
    summary.update(partition=partition, worker_mem_gb=mem_limit_gb, transients=circuit.jobs,
                   section=lib_line.split()[-1], mc_seed=seed,
                   peak_rss_mb=max((j["peak_rss_mb"] for j in circuit.jobs if j["peak_rss_mb"] is not None),
                                   default=None))
    summary["energy"] = energy_summary(circuit, net.test_inputs) if energy else None
    summary["programming"] = None if programmed is None else {"method": "write-verify", "reads": programmed.reads,
                                                              "converged": programmed.converged}
    summary["warnings"] = list(warnings or [])
    # the inputs actually simulated, at full precision: `imc-verify run --inputs` on this file repeats the run
    inputs_csv = "".join(",".join(f"{v:.17g}" for v in row) + "\n" for row in np.asarray(net.test_inputs, float))
    if inputs is not None:
        summary["inputs"] = replace(inputs, test_inputs_sha256=hashlib.sha256(inputs_csv.encode()).hexdigest()).to_dict()
    directory, note = write_verification(out, net, cell, circuit, model, summary, calibration, force,
                                         extra={TEST_INPUTS_FILE: inputs_csv})
    if note:
        log(note)
    summary["directory"] = str(directory)
    log(f"run a netlist by hand: {hand_command(directory, circuit)}")
    log(f"output-layer RMSE {summary['rmse_ns']:.2f} ns over all pairs, {fmt_ns(summary['rmse_ns_fired'])} ns over the "
        f"pairs where model or circuit fires (per layer: " + ", ".join(f"{x:.2f}" for x in summary['rmse_ns_per_layer'])
        + f" ns); class agreement {summary['class_agreement']:.0%}")
    return summary


def fit_scales(net: Network, cell: CellParams, design: CellDesign, lib_line: str, scale_mode: str,
               log: Callable[[str], None], kw: dict):
    """The fitted current scale(s) (SPICE in the loop on the calibration samples), or None for scale_mode 'none'."""
    if scale_mode == "none":
        return None
    if net.cal_inputs is None or len(net.cal_inputs) == 0:
        raise ConfigError("scale calibration needs calibration samples (training split); or pass --scale")
    cal_target = model_times(net.weights, net.cal_inputs, net.model)
    log(f"calibrating the {scale_mode} current scale on {len(net.cal_inputs)} training samples (SPICE in the loop)")
    return fit_batched(lambda cands: simulate_scales(net.weights, net.cal_inputs, cell, design, lib_line, cands, **kw),
                       cal_target, scale_mode, log, t_circ_ns=cell.t_circ * 1e9)


def _summary(net: Network, cell: CellParams, circuit, model: list[np.ndarray], scales: Scales, scale_mode: str,
             calibration, temp: float, timing: dict) -> dict:
    T_ns = cell.t_circ * 1e9
    layers = layer_errors(circuit.times, model, T_ns)
    pc_model = predicted_class(model[-1], net.n_classes)
    pc_spice = predicted_class(circuit.times[-1], net.n_classes)
    return {
        "schema_version": VERIFY_SCHEMA_VERSION,
        "flow": net.flow,
        "source": net.source,
        "n_samples": int(len(net.test_inputs)),
        "n_calibration": 0 if net.cal_inputs is None else int(len(net.cal_inputs)),
        "rmse_ns": layers[-1]["rmse_ns"],
        "rmse_ns_fired": layers[-1]["rmse_ns_fired"],
        "rmse_ns_per_layer": [e["rmse_ns"] for e in layers],
        "rmse_ns_fired_per_layer": [e["rmse_ns_fired"] for e in layers],
        "errors_per_layer": layers,
        "max_abs_error_ns": max(e["max_abs_error_ns"] for e in layers),
        "class_agreement": float(np.mean(pc_model == pc_spice)),
        "accuracy_model": None if net.test_labels is None else float(np.mean(pc_model == net.test_labels)),
        "accuracy_spice": None if net.test_labels is None else float(np.mean(pc_spice == net.test_labels)),
        "scale": scales.as_dict(),
        "scale_mode": scale_mode if calibration is not None or scale_mode == "none" else "given",
        "calibration_rmse_ns": None if calibration is None else calibration.rmse * T_ns,
        "calibration_evaluations": 0 if calibration is None else len(calibration.evaluations),
        "model": net.model.describe(),
        "layer_sizes": [int(net.weights[0].shape[1])] + [int(w.shape[0]) for w in net.weights],
        "n_clipped_weights": circuit.n_clipped,
        "chunks": len(circuit.bundles),
        **timing,
        "temperature": temp,
        "inputs": None,
        "cell": {"design": cell.provenance.design, "corner": cell.provenance.corner, "temperature": cell.temperature,
                 "e_rev_plus": cell.e_rev_plus, "e_rev_minus": cell.e_rev_minus, "e_dis": cell.e_dis,
                 "i_unit": cell.i_unit, "c_m": cell.c_m, "v_th": cell.v_th},
    }
