"""The verification directory: netlists, spike_times.csv, summary.json, plots and report.md.

A verification is written into a fresh hidden directory beside its destination and renamed into place when
complete, so a directory never mixes two verifications and an interrupted one leaves the previous intact."""

from __future__ import annotations

import csv
import errno
import io
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, fsync_dir
from imcpnn.errors import ConfigError
from imcpnn.netlists.network import PDK_INCLUDE, portable_netlist
from imcpnn.verify.energy import energy_markdown
from imcpnn.verify.predict import membrane_trajectory
from imcpnn.verify.spike_errors import fmt_ns

_TAKEN = (errno.EEXIST, errno.ENOTEMPTY)


def _savefig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _plots(out: Path, net, cell, circuit, model, worst: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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

    # residuals in ns against the model's time: on a 0-1000 ns time-vs-time scatter a 1 ns error is invisible
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for l, (c, m) in enumerate(zip(circuit.times, model)):
        fired = (c < 1.0) | (m < 1.0)
        ax.scatter(m[fired] * T_ns, (c - m)[fired] * T_ns, s=8, label=f"layer {l + 1}")
    ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("model spike time (ns); pairs where model or SPICE fires")
    ax.set_ylabel("SPICE - model (ns)")
    ax.legend(fontsize=7)
    _savefig(fig, out / "residuals.png")
    plt.close(fig)
    names.append("residuals.png")

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


def _mb(x) -> str:
    return "n/a (from the cache)" if x is None else f"{x:.0f} MiB"


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


def _seed(s: dict) -> str:
    return "" if s.get("mc_seed") is None else f", Monte-Carlo seed {s['mc_seed']}"


def _is_verification(d: Path) -> bool:
    return (d / "summary.json").is_file() or (d / "spike_times.csv").is_file() or (d / "netlists").is_dir()


def holds_files(out: Path) -> bool:
    """Whether an output directory `out` already holds anything (absent or empty: no); a file there is an error."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    return any(out.iterdir())


def check_out(out: Path, force: bool) -> None:
    """Before any simulation: refuse an `out` that holds a verification (unless `force`) or anything else."""
    if not holds_files(out):
        return
    if not _is_verification(out):
        raise ConfigError(f"--out {out} is not empty and holds no verification; pick another --out")
    if not force:
        raise ConfigError(f"{out} already holds a verification; pass --force to replace it (the old one is removed "
                          f"only once the new one is complete) or pick another --out")


def _publish(staged: Path, out: Path, force: bool) -> tuple[Path, str]:
    """Rename the complete verification `staged` to `out`; returns (where it went, a note for the user or '')."""
    if force and out.is_dir() and _is_verification(out):
        aside = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(3)}")
        os.rename(out, aside)
        os.rename(staged, out)
        fsync_dir(out.parent)
        shutil.rmtree(aside)
        return out, f"replaced the previous verification in {out}"
    for k in range(1, 1000):
        dest = out if k == 1 else out.with_name(f"{out.name}-{k}")
        try:
            os.rename(staged, dest)  # never replaces a non-empty directory
        except OSError as exc:
            if exc.errno in _TAKEN:
                continue
            raise
        fsync_dir(out.parent)
        return dest, "" if k == 1 else (f"{out} meanwhile received another verification; this one is kept in {dest}")
    raise ConfigError(f"no free name next to {out}; remove old verifications")


def write_verification(out: Path, net, cell, circuit, model, summary: dict, calibration,
                       force: bool = False, extra: dict[str, str] | None = None) -> tuple[Path, str]:
    """Write the verification directory atomically (see the module docstring), with `extra` files (name -> text).
    Without `force` an existing verification is never replaced: if one appeared at `out` during the simulation, this
    one is kept under `out-2` (`-3`, ...). Returns (the directory written, a note for the user or '')."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.name}.new-{os.getpid()}-{secrets.token_hex(3)}")
    staged.mkdir()
    try:
        write_outputs(staged, net, cell, circuit, model, summary, calibration)
        for name, text in (extra or {}).items():
            atomic_write_text(staged / name, text)
        return _publish(staged, out, force)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def hand_command(directory: str | Path, circuit) -> str:
    """The one line that simulates the first exported netlist of a verification in `directory` with ngspice."""
    name = circuit.netlist_files()[0][0]
    return f"ngspice -b -r {name}.raw {Path(directory) / 'netlists' / name}.cir"


def write_outputs(out: Path, net, cell, circuit, model, summary: dict, calibration) -> None:
    """The files of one verification, into the (new) directory `out`."""
    (out / "netlists").mkdir(parents=True, exist_ok=True)
    for name, b in circuit.netlist_files():
        text, pdk = portable_netlist(b.text, b.lib_line)
        atomic_write_text(out / "netlists" / f"{name}.cir", text)
        atomic_write_text(out / "netlists" / PDK_INCLUDE, pdk)
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

Network {s['layer_sizes']} exported to sky130 netlists (design `{s['cell']['design']}`, corner {s.get('section', s['cell']['corner'])}{_seed(s)}),
{s['n_samples']} test samples simulated in ngspice and compared with the model (exact solver, no noise):
{model_line(s['model'])}.

| metric | value |
| --- | --- |
| output-layer RMSE, all pairs | **{s['rmse_ns']:.2f} ns** |
| output-layer RMSE, pairs where model or SPICE fires | **{fmt_ns(s['rmse_ns_fired'])} ns** |
| RMSE per layer, all pairs / fired pairs | {', '.join(f'{x:.2f}' for x in s['rmse_ns_per_layer'])} ns / {', '.join(fmt_ns(x) for x in s['rmse_ns_fired_per_layer'])} ns |
| pairs per layer: both fired / both silent / only SPICE / only model | {'; '.join(f"{e['both_fired']} / {e['both_silent']} / {e['only_circuit_fired']} / {e['only_model_fired']}" for e in s['errors_per_layer'])} |
| max abs error (any layer) | {s['max_abs_error_ns']:.2f} ns |
| class agreement model/SPICE | {s['class_agreement']:.1%} |
{acc}| current scale (+ / -) | {s['scale']['pos']:.4f} / {s['scale']['neg']:.4f} ({s['scale_mode']}) |
| calibration samples / evaluations | {s['n_calibration']} / {s['calibration_evaluations']} |
| clipped weights | {s['n_clipped_weights']} |
| SPICE time: calibration / test | {s['seconds_calibration']:.1f} s / {s['seconds_test_simulation']:.1f} s |
| test transients (partition {s['partition']}) / largest peak RSS of one | {len(s['transients'])} / {_mb(s['peak_rss_mb'])} |

Files: `spike_times.csv` (per sample, layer, neuron), `summary.json`, `netlists/`, {', '.join(f'`{p}`' for p in plots)}.
Run a netlist by hand (all node voltages into a raw file; the models are named in `netlists/{PDK_INCLUDE}`, the one
line to change on another machine):

    {hand_command('.', circuit)}

![membrane](worst_sample_membrane.png)
![errors](error_hist.png)
![residuals](residuals.png)
"""
    if s.get("energy"):
        md += "\n" + energy_markdown(s["energy"])
    atomic_write_text(out / "report.md", md)
