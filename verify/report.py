"""The verification directory: netlists, spike_times.csv, summary.json, plots and report.md."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text


def _savefig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _plots(out: Path, net, cell, circuit, model, worst: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imcpnn.verify.predict import membrane_trajectory

    T_ns = cell.t_circ * 1e9
    names = []
    d = np.concatenate([(c - m).ravel() for c, m in zip(circuit.times, model)]) * T_ns
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(d, bins=40, color="tab:blue")
    ax.set_xlabel("SPICE - model spike time (ns), all layers")
    ax.set_ylabel("count")
    _savefig(fig, out / "error_hist.png")
    plt.close(fig)
    names.append("error_hist.png")

    fig, ax = plt.subplots(figsize=(4, 4))
    for l, (c, m) in enumerate(zip(circuit.times, model)):
        ax.scatter(m.ravel() * T_ns, c.ravel() * T_ns, s=8, label=f"layer {l + 1}")
    ax.plot([0, T_ns], [0, T_ns], "k--", lw=0.8)
    ax.set_xlabel("model spike time (ns)")
    ax.set_ylabel("SPICE spike time (ns)")
    ax.legend(fontsize=7)
    _savefig(fig, out / "scatter.png")
    plt.close(fig)
    names.append("scatter.png")

    # membrane of the output layer for the worst sample: SPICE waveform vs the model trajectory
    k = next(i for i, (a, b) in enumerate(circuit.chunks) if a <= worst < b)
    if circuit.waves:
        waves, bundle, local = circuit.waves[k], circuit.bundles[k], worst - circuit.chunks[k][0]
        L = bundle.n_layers
        t0, _ = bundle.accum_window(L - 1, local)
        _, t1 = bundle.fire_window(L - 1, local)
        t = waves["time"]
        sel = (t >= t0) & (t <= t1)
        tau, v = membrane_trajectory(net.weights, net.test_inputs[worst], net.model, layer=-1)
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for i, node in enumerate(bundle.mem_nodes[L - 1]):
            line, = ax.plot((t[sel] - t0) * 1e6, waves[node][sel], lw=1.0, label=f"neuron {i} SPICE")
            ax.plot(tau * cell.t_circ * 1e6, cell.v0 - v[i] * cell.v_th, "--", color=line.get_color(), lw=1.0)
        ax.axhline(cell.v_switch, color="k", lw=0.6, ls=":")
        ax.set_ylim(-0.05, cell.vdd + 0.05)
        ax.set_xlabel("time from accumulation start (us); solid SPICE, dashed model")
        ax.set_ylabel("membrane (V)")
        ax.set_title(f"output layer, worst test sample {worst}", fontsize=9)
        ax.legend(fontsize=6, ncol=3)
        _savefig(fig, out / "worst_sample_membrane.png")
        plt.close(fig)
        names.append("worst_sample_membrane.png")
    return names


def _num(x) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else str(x)


def model_line(m: dict) -> str:
    """The model a summary was computed with, in words (E values, and the bottom-up refinements that were on)."""
    parts = [f"E+ {_num(m['e_plus'])}, E- {_num(m['e_minus'])}, E_dis {_num(m['e_dis'])}"]
    if m.get("per_synapse_lambda"):
        parts.append("per-synapse lambda")
    if m.get("alpha_dis") is not None:
        parts.append("measured firing law")
    if m.get("spike_line_kicks"):
        parts.append("spike-line kicks and turn-on delays")
    return "; ".join(parts)


def write_outputs(out: Path, net, cell, circuit, model, summary: dict, calibration) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "netlists").mkdir(exist_ok=True)
    for k, b in enumerate(circuit.bundles):
        a, e = circuit.chunks[k]
        atomic_write_text(out / "netlists" / f"test_samples_{a:03d}-{e - 1:03d}.cir", b.text)
    T_ns = cell.t_circ * 1e9
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["sample", "layer", "neuron", "t_model", "t_spice", "t_model_ns", "t_spice_ns", "diff_ns"])
    for l, (c, m) in enumerate(zip(circuit.times, model), start=1):
        for s in range(c.shape[0]):
            for i in range(c.shape[1]):
                w.writerow([s, l, i, f"{m[s, i]:.6f}", f"{c[s, i]:.6f}", f"{m[s, i] * T_ns:.3f}",
                            f"{c[s, i] * T_ns:.3f}", f"{(c[s, i] - m[s, i]) * T_ns:.3f}"])
    atomic_write_text(out / "spike_times.csv", buf.getvalue())
    if calibration is not None:
        rows = ["scale_pos,scale_neg,rmse_ns"] + [f"{p:.6f},{n:.6f},{e * T_ns:.4f}" for p, n, e in calibration.evaluations]
        atomic_write_text(out / "calibration.csv", "\n".join(rows) + "\n")
    worst = int(np.argmax(np.abs(circuit.times[-1] - model[-1]).max(axis=1)))
    summary["worst_sample"] = worst
    plots = _plots(out, net, cell, circuit, model, worst)
    atomic_write_json(out / "summary.json", summary)
    s = summary
    acc = "" if s["accuracy_model"] is None else (
        f"| test accuracy, model | {s['accuracy_model']:.1%} |\n| test accuracy, SPICE | {s['accuracy_spice']:.1%} |\n")
    md = f"""# Verification: {s['flow']} ({s['source']})

Network {s['layer_sizes']} exported to sky130 netlists (design `{s['cell']['design']}`, corner {s['cell']['corner']}),
{s['n_samples']} test samples simulated in ngspice and compared with the model (exact solver, no noise):
{model_line(s['model'])}.

| metric | value |
| --- | --- |
| output-layer RMSE | **{s['rmse_ns']:.2f} ns** |
| RMSE per layer | {', '.join(f'{x:.2f}' for x in s['rmse_ns_per_layer'])} ns |
| max abs error (any layer) | {s['max_abs_error_ns']:.2f} ns |
| class agreement model/SPICE | {s['class_agreement']:.1%} |
{acc}| current scale (+ / -) | {s['scale']['pos']:.4f} / {s['scale']['neg']:.4f} ({s['scale_mode']}) |
| calibration samples / evaluations | {s['n_calibration']} / {s['calibration_evaluations']} |
| clipped weights | {s['n_clipped_weights']} |
| SPICE time: calibration / test | {s['seconds_calibration']:.1f} s / {s['seconds_test_simulation']:.1f} s |

Files: `spike_times.csv` (per sample, layer, neuron), `summary.json`, `netlists/` (run by hand with
`ngspice netlists/<file>.cir`), {', '.join(f'`{p}`' for p in plots)}.

![membrane](worst_sample_membrane.png)
![errors](error_hist.png)
![scatter](scatter.png)
"""
    atomic_write_text(out / "report.md", md)
