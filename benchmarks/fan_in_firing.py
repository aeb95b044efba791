"""The firing phase at other fan-ins: imc-extract's firing transient (known charges injected into one neuron,
extract/firing.py) with n synapses on the membrane, flat device form; prints C_eff (from the injected slope), the
fitted ramp rate and threshold, t_min and the reset level next to what the model's fan-in law says (imcpnn/neuron.py).

    .venv/bin/python benchmarks/fan_in_firing.py --cell cell.json --fan-ins 5,64,256
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from imcpnn.cell import load_cell
from imcpnn.extract.firing import T_INJ, V_TARGETS, fit_firing
from imcpnn.extract.plan import _bias_sweeps
from imcpnn.netlists import column_tb, load_design
from imcpnn.neuron import NeuronModel
from imcpnn.pdk import lib_line
from imcpnn.spice.analyses import Tran, Voltage
from imcpnn.spice.cache import ResultCache
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs


def measure(cell, design, lib: str, model: NeuronModel, n: int) -> str:
    T, s = design.t_circ, model.scale_at(n)
    # the ramp reaches only ~s * alpha below the threshold: aim the ramp-fired charges into that range
    targets = [1 - (1 - v) * s if v < 1 else v for v in V_TARGETS]
    currents = [float(f"{v / (1 - T_INJ) * cell.i_unit / s:.4g}") for v in targets]
    tb = column_tb(design, lib, n, i_inj=0.0, t_inj=T_INJ * T)
    job = SimJob(tb.text, tuple(_bias_sweeps("iinj", currents, tb.analysis)),
                 (Tran.scale, Voltage("mem"), Voltage("spk")), label=f"firing, fan-in {n}")
    t0 = time.perf_counter()
    res = run_jobs([job], workers=1, cache=ResultCache(), progress=False, timeout=7200)[0]
    if not res.ok:
        return f"fan-in {n}: {res.error}"
    rest = res.plots[0]  # no injected charge: the level the reset switch leaves
    v_rst = float(np.interp(T + 0.02 * T, rest.time, rest.voltage("mem")))
    mid = res.plots[4]
    m = (mid.time > 1.18 * T) & (mid.time < 1.97 * T)
    c_eff = currents[4] / -np.polyfit(mid.time[m], mid.voltage("mem")[m], 1)[0]
    f = fit_firing(res.plots, v0=cell.v_reset, v_th=cell.v_th, beta_dis=1 / cell.e_dis, vdd=design.vdd, t_circ=T,
                   t_edge=design.t_edge)
    law = model.layer(0, n)
    return (f"fan-in {n}: charge scale {s:.4f}; C_eff {c_eff * 1e15:.2f} fF; ramp rate {f.alpha:.4f} (law "
            f"{law.ramp_rate or cell.alpha_dis:.4f}); threshold {f.threshold:.5f} (law, without the reset shift "
            f"{1 + (cell.fire_threshold - 1) * s:.5f}); t_min {f.t_min * T * 1e9:.2f} ns; reset level "
            f"{(v_rst - cell.v_reset) * 1e3:+.2f} mV from the design fan-in's (law "
            f"{(cell.v_reset - cell.v0) * (s - 1) * 1e3:+.2f} mV); fit RMSE {f.rmse * T * 1e9:.2f} ns; "
            f"{time.perf_counter() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cell", required=True)
    ap.add_argument("--fan-ins", default="5,64,256")
    args = ap.parse_args()
    cell = load_cell(args.cell)
    design = load_design(cell.design).derive(device_form="flat")
    model = NeuronModel.from_cell(cell)
    for n in (int(v) for v in args.fan_ins.split(",")):
        print(measure(cell, design, lib_line(cell.provenance.corner), model, n), flush=True)


if __name__ == "__main__":
    main()
