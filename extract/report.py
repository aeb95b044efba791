"""Report directory: PNG plots (matplotlib, Agg) and a Markdown summary of one or several corners."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_text
from imcpnn.cell import CellParams
from imcpnn.laws import FiringLaw

PAPER = {"lambda_n": 0.41, "lambda_p": 0.75, "lambda_dis": 0.177, "e_rev_plus": 2.80, "e_rev_minus": -1.53,
         "e_dis": 6.44, "v_switch": 0.428, "c_m": 1.4e-13}

ROWS = ["v0", "v_switch", "v_th", "t_circ", "c_m", "i_unit", "lambda_n", "lambda_p", "lambda_dis", "e_rev_plus",
        "e_rev_minus", "e_dis", "curvature_n", "curvature_p", "curvature_dis", "i_dis", "alpha_dis_dc", "leak_drift",
        "leak_current", "w_max_plus", "w_max_minus", "alpha_dis", "fire_threshold",
        "fire_t_min"]


def _g(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def write_plots(cell: CellParams, raw, out: Path) -> list[str]:
    # lazy: matplotlib takes about a second to import and only the report needs it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        files.append(name)

    _device_plots(plt, cell, raw, save)
    _transient_plots(plt, cell, raw, save)
    return files


def _device_plots(plt, cell: CellParams, raw, save) -> None:
    """The DC characterisation: I(V) curves and their fits, lambda against current, bias tables, sensing stage."""
    v0, vs = cell.v0, cell.v_switch
    for br, title in (("n", "NMOS branch"), ("p", "PMOS branch"), ("dis", "discharger")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for vg, vv, ii, f in raw.curves[br]:
            s = -1.0 if br == "p" else 1.0
            ax.semilogy(vv, np.abs(ii), ".", ms=3)
            xs = np.linspace(vs, v0, 20)
            ax.semilogy(xs, f.i0 * (1 + f.lam * s * (xs - v0)), "-", lw=0.8, color="k")
        ax.axvspan(vs, v0, color="0.9")
        ax.set(xlabel="membrane voltage V (V)", ylabel="|I| (A)", title=f"{title}: I(V) and CLM fits")
        save(fig, f"iv_{br}.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for br, lam in (("n", cell.lambda_n), ("p", cell.lambda_p)):
        i0 = [c[3].i0 / cell.i_unit for c in raw.curves[br]]
        ax.semilogx(i0, [c[3].lam for c in raw.curves[br]], "o-", ms=3, label=f"{br}: branch lambda {lam:.3f} /V")
    ax.axvspan(0.05, 3, color="0.9", label="averaging range")
    ax.set(xlabel="I0 / i_unit", ylabel="lambda (1/V)", title="lambda versus current")
    ax.legend()
    save(fig, "lambda_vs_current.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for br in ("n", "p"):
        vg, ii = raw.tables_dense[br]
        ax.semilogy(vg, np.clip(np.abs(ii), 1e-15, None) / cell.i_unit, "-", lw=0.8, label=f"{br} (dense sweep)")
        t = cell.bias_tables[br]
        ax.semilogy(t.v_gate, np.array(t.i_v0) / cell.i_unit, ".", ms=3, label=f"{br} table")
    ax.set(xlabel="gate bias (V)", ylabel="I(V0) / i_unit", title="gate bias versus current at V0")
    ax.legend()
    save(fig, "bias_tables.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    vm, vsense = raw.sense
    ax.plot(vm, vsense)
    ax.axvline(vs, color="r", lw=0.8, label=f"V_switch = {vs:.4f} V")
    ax.set(xlabel="V_mem (V)", ylabel="v(sense) (V)", title="sensing stage transfer")
    ax.legend()
    save(fig, "sense_transfer.png")


def _transient_plots(plt, cell: CellParams, raw, save) -> None:
    """The transients: C_eff against fan-in, the column transients, the spike-line kicks."""
    fig, ax = plt.subplots(figsize=(6, 4))
    n = [f.n_in for f in cell.c_m_per_fanin]
    ax.plot(n, [f.c_m * 1e15 for f in cell.c_m_per_fanin], "o-")
    ax.set(xlabel="fan-in N_in", ylabel="C_eff (fF)", title="effective membrane capacitance")
    save(fig, "c_eff_vs_fanin.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (t, v) in sorted(raw.columns.items()):
        ax.plot(t * 1e6, v, lw=0.8, label=f"N_in={k}")
    ax.set(xlabel="t (us)", ylabel="V_mem (V)", title="column transients (known injected current)")
    ax.legend(fontsize=7)
    save(fig, "column_transients.png")
    if cell.alpha_dis is not None and getattr(raw, "firing", None) is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_firing(ax, cell, raw.firing.points)
        save(fig, "firing_law.png")
    if cell.kicks is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, fed, ls in ((cell.kicks, "stimulus", "-"), (cell.kicks_neuron, "neuron", "--")):
            if k is not None:
                ax.semilogx(k.n_w, np.asarray(k.n_kick) * 1e3, "o" + ls, label=f"NMOS branch (w > 0), {fed}-fed")
                ax.semilogx(k.p_w, -np.asarray(k.p_kick) * 1e3, "s" + ls,
                            label=f"PMOS branch (w < 0, sign flipped), {fed}-fed")
        ax.set(xlabel="|w| (units of i_unit)", ylabel="|kick| (1e-3 of v_th)",
               title="spike-line kick at the firing start, per arrived synapse")
        ax.legend(fontsize=7)
        save(fig, "spike_line_kicks.png")


def firing_md(cell: CellParams, firing=None) -> list[str]:
    """The measured firing law of cell.json (extract/firing.py), in words and numbers."""
    if cell.alpha_dis is None:
        return ["", "## Firing law", "", "Not measured: the model uses the paper's ideal ramp (alpha, theta, t_min "
                "from E_dis alone)."]
    lines = ["", "## Firing law (measured in transients; extract/firing.py)", "",
             "t = [ln(1 - b v) - ln(1 - b theta)] / (a b), b = 1/E_dis, clipped to [t_min, 1] (model units: v in "
             "v_th, t in t_circ)", "",
             "| quantity | value | paper's ideal ramp |", "|---|---|---|",
             f"| alpha_dis (a) | {cell.alpha_dis:.4f} | {FiringLaw.from_cell(None, 1.0, 0.0, cell.e_dis).alpha:.4f} |",
             f"| fire_threshold (theta) | {cell.fire_threshold:.4f} | 1 |",
             f"| fire_t_min | {cell.fire_t_min:.4f} ({cell.fire_t_min * cell.t_circ * 1e9:.2f} ns) | 0 |"]
    if firing is not None:
        lines.append(f"\nFit RMSE {firing.rmse:.4f} t_circ ({firing.rmse * cell.t_circ * 1e9:.2f} ns) over "
                     f"{len(firing.points)} injected charges.")
    return lines


def _section(title: str, intro: str, header: list[str], rows: list[str]) -> list[str]:
    return ["", f"## {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows]


def early_md(cell: CellParams) -> list[str]:
    """The early-spike points of cell.json (a membrane at or past the threshold when the firing phase starts)."""
    e = cell.fire_early
    if e is None:
        return []
    return _section("Early spikes (membrane at or past the threshold at the firing start; extract/firing.py)",
                    "The model fires at the later of the firing law's time and these points, interpolated in v.",
                    ["v at the firing start (v_th)", "spike time (t_circ)", "(ns)"],
                    [f"| {v:.3f} | {t:.4f} | {t * cell.t_circ * 1e9:.2f} |" for v, t in zip(e.v, e.t)])


def kick_level_md(cell: CellParams) -> list[str]:
    """The kicks' law against the membrane level at the firing start (extract/kicks.py), per test weight."""
    k = cell.kick_level
    if k is None:
        return []
    rows = [f"| {br} | {w:.4g} | {sl:+.3f} | {v:.3f} |" for br in ("n", "p")
            for w, sl, v in zip(getattr(k, f"{br}_w"), getattr(k, f"{br}_slope"), getattr(k, f"{br}_v"))]
    return _section("Kicks against the membrane level (extract/kicks.py)",
                    "kick(w, v) = kick(w) (1 + slope (v - level)), v the membrane at the firing start.",
                    ["branch", "w (units)", "slope (per v_th)", "level (v_th)"], rows)


def plot_firing(ax, cell: CellParams, points: list[tuple[float, float]]) -> None:
    """Measured (v at the end of accumulation, spike time) against the fitted law and the paper's ideal ramp."""
    v = np.linspace(-0.1, 2.0, 200)
    law = FiringLaw.from_cell(cell.alpha_dis, cell.fire_threshold, cell.fire_t_min, cell.e_dis).fire_time(v)
    ideal = FiringLaw.from_cell(None, 1.0, 0.0, cell.e_dis).fire_time(v)
    ax.plot([p[0] for p in points], [p[1] for p in points], "o", label="measured (ngspice)")
    ax.plot(v, law, "-", label=f"fit: a={cell.alpha_dis:.3f}, theta={cell.fire_threshold:.3f}, "
                               f"t_min={cell.fire_t_min:.3f}")
    ax.plot(v, ideal, "--", color="0.5", label="paper's ideal ramp")
    ax.set(xlabel="v at the end of accumulation (v_th)", ylabel="spike time (t_circ)", title="firing law")
    ax.legend(fontsize=7)


def summary_md(cell: CellParams, raw, plots: list[str], stats=None) -> str:
    p = cell.provenance
    lines = [f"# Cell extraction: design {p.design}, corner {p.corner}, {p.temperature:g} C", "",
             f"PDK {p.pdk_source} ({p.pdk_hash[:12]}), {p.ngspice_version}, imc-pnn {p.tool_version}, {p.timestamp}",
             "", "| quantity | value | unit | paper |", "|---|---|---|---|"]
    for k in ROWS:
        lines.append(f"| {k} | {_g(getattr(cell, k))} | {cell.units.get(k, '')} | {_g(PAPER[k]) if k in PAPER else ''} |")
    lines += ["", "Branch lambda = current-weighted mean over the curves with I0 in [0.05, 3] i_unit. For comparison, "
              "the unweighted mean over the same curves:"]
    for br in ("n", "p"):
        lam = [c[3].lam for c in raw.curves[br] if c[3].label in raw.used.get(br, [])]
        if lam:
            lines.append(f"- {br}: {np.mean(lam):.4f} /V over {len(lam)} curves (range {min(lam):.3f} .. {max(lam):.3f})")
    lines += ["", "## C_eff(N_in)", "", "| N_in | C_eff (fF) |", "|---|---|"]
    lines += [f"| {f.n_in} | {f.c_m * 1e15:.3f} |" for f in cell.c_m_per_fanin]
    lines += ["", "## Bias tables (at V0)", "", "| branch | biases | v_gate range (V) | I range (units) | "
              "interp. error |", "|---|---|---|---|---|"]
    for br, t in cell.bias_tables.items():
        lines.append(f"| {br} | {len(t.v_gate)} | {t.v_gate[0]:.3f} .. {t.v_gate[-1]:.3f} | "
                     f"{min(t.i_v0) / cell.i_unit:.3g} .. {max(t.i_v0) / cell.i_unit:.3g} | "
                     f"{cell.bias_interp_rel_error.get(br, float('nan')):.2e} |")
    lines += ["", "## Per-curve fits (window [V_switch, V0])", "",
              "| curve | bias (V) | I0 (A) | I0/i_unit | lambda (1/V) | kappa (1/V^2) | R^2 | max rel. resid. | "
              "in lambda average |", "|---|---|---|---|---|---|---|---|---|"]
    for br in ("n", "p", "dis"):
        for vg, _, _, f in raw.curves[br]:
            used = "yes" if f.label in raw.used.get(br, []) else ""
            lines.append(f"| {br} | {vg:.4f} | {f.i0:.4g} | {f.i0 / cell.i_unit:.3g} | {f.lam:.4f} | {f.kappa:.4f} | "
                         f"{f.r2:.5f} | {f.max_rel_residual:.2e} | {used} |")
    for k, fed in ((cell.kicks, "stimulus (first layer)"), (cell.kicks_neuron, "neuron (later layers)")):
        if k is None:
            continue
        lines += ["", f"## Spike-line kicks, inputs fed by the {fed} (added to v at the firing start per arrived "
                  "synapse; extract/kicks.py)", "",
                  f"Turn-on delay: {k.n_delay * cell.t_circ * 1e9:+.2f} ns (N), {k.p_delay * cell.t_circ * 1e9:+.2f} ns (P)",
                  "", "| branch | w (units) | kick (1e-3) |", "|---|---|---|"]
        lines += [f"| n | {w:.4g} | {x * 1e3:+.3f} |" for w, x in zip(k.n_w, k.n_kick)]
        lines += [f"| p | {w:.4g} | {x * 1e3:+.3f} |" for w, x in zip(k.p_w, k.p_kick)]
    lines += firing_md(cell, getattr(raw, "firing", None))
    lines += early_md(cell) + kick_level_md(cell)
    lines += trim_md(cell, getattr(raw, "trim", None))
    if stats is not None:
        lines += ["", f"Simulation: {stats.jobs} jobs, {stats.cache_hits} from cache, {stats.library_loads} ngspice "
                  f"library loads, {stats.wall_seconds:.1f} s wall."]
    lines += ["", "## Plots", ""] + [f"![{f}]({f})" for f in plots]
    return "\n".join(lines) + "\n"


def write_report(cell: CellParams, raw, out: str | Path, stats=None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(cell, raw, out)
    atomic_write_text(out / "report.md", summary_md(cell, raw, plots, stats))
    return out / "report.md"


def trim_md(cell: CellParams, trim) -> list[str]:
    """The trimmed biases (extract/trim.py) and how close the cell came to what they hold."""
    if trim is None:
        return ["", "## Trim", "", f"Off (--no-trim): the design's biases v_b_dis {cell.design['v_b_dis']:.4f} V, "
                f"v_b_sense {cell.design['v_b_sense']:.4f} V."]
    return ["", "## Trim (extract/trim.py)", "", "| bias | design (V) | trimmed (V) | holds | target | cell |",
            "|---|---|---|---|---|---|",
            f"| v_b_sense | {trim.design_v_b_sense:.4f} | {trim.v_b_sense:.4f} | V_switch | {trim.v_switch:.4f} V | "
            f"{cell.v_switch:.4f} V |",
            f"| v_b_dis | {trim.design_v_b_dis:.4f} | {trim.v_b_dis:.4f} | alpha_dis_dc | {trim.alpha_dis:.4f} | "
            f"{cell.alpha_dis_dc:.4f} |"] + ([] if trim.floor is None else [
            "", f"The sensing stage's drive floor binds: {trim.floor.what()}; the target V_switch is the "
            "stage's own at the floor's bias."])


def comparison_md(cells: dict[str, CellParams]) -> str:
    names = list(cells)
    lines = ["| quantity | " + " | ".join(names) + " | paper |", "|---" * (len(names) + 2) + "|"]
    for k in ("v_b_dis", "v_b_sense"):
        lines.append(f"| {k} | " + " | ".join(f"{cells[c].design[k]:.4f}" for c in names) + " |  |")
    for k in ROWS:
        vals = " | ".join(_g(getattr(cells[c], k)) for c in names)
        lines.append(f"| {k} | {vals} | {_g(PAPER[k]) if k in PAPER else ''} |")
    return "\n".join(lines) + "\n"
