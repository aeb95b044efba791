"""Report of a Monte-Carlo mismatch run (`imc-extract mc --report DIR`): sigma(I)/I against I per branch, histograms
of the scalar quantities, and report.md with their table (mean, std, rel, n)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_text
from imcpnn.cell import CellParams
from imcpnn.variation import SPREAD_KEYS, Variation


def spread_table(var: Variation) -> list[str]:
    """The Markdown table of the scalar spreads, in SPREAD_KEYS order."""
    lines = ["| quantity | mean | std | rel (std/mean) | n | unit |", "|---|---|---|---|---|---|"]
    for key, unit in SPREAD_KEYS.items():
        s = var.spreads.get(key)
        if s is not None:
            lines.append(f"| {key} | {s.mean:.4g} | {s.std:.3g} | {s.rel:.2%} | {s.n} | {unit} |")
    return lines


def current_table(var: Variation, i_unit: float) -> list[str]:
    lines = ["| branch | I (A) | I / i_unit | sigma(I)/I |", "|---|---|---|---|"]
    for br, cm in var.current.items():
        lines += [f"| {br} | {i:.3g} | {i / i_unit:.3g} | {s:.2%} |" for i, s in zip(cm.i, cm.sigma_rel)]
    return lines


def _plots(cell: CellParams, out: Path) -> list[str]:
    # lazy: matplotlib takes about a second to import and only the report needs it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    var = cell.variation
    fig, ax = plt.subplots(figsize=(6, 4))
    for br, cm in var.current.items():
        ax.semilogx(np.array(cm.i) / cell.i_unit, 100 * np.array(cm.sigma_rel), "o-", label=f"{br.upper()} branch")
    ax.set_xlabel("mean branch current at V0 / i_unit")
    ax.set_ylabel("sigma(I) / I  (%)")
    ax.set_title(f"{var.corner}, {var.temperature:g} C, {var.n_instances} instances, seed {var.seed}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "sigma_vs_current.png", dpi=90)
    plt.close(fig)
    keys = [k for k in SPREAD_KEYS if k in var.spreads]
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(keys) / cols), cols, figsize=(10, 2.6 * math.ceil(len(keys) / cols)),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        s = var.spreads[key]
        ax.hist(s.samples, bins=max(5, min(30, s.n // 3)))
        ax.axvline(s.mean, color="k", lw=1)
        ax.set_title(f"{key}: rel {s.rel:.2%}", fontsize=9)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "histograms.png", dpi=90)
    plt.close(fig)
    return ["sigma_vs_current.png", "histograms.png"]


def write_mismatch_report(cell: CellParams, out: str | Path, stats=None) -> Path:
    """report.md and the plots in ``out`` (created); ``cell`` must hold a variation section."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    var = cell.variation
    plots = _plots(cell, out)
    lines = [f"# Monte-Carlo mismatch ({var.corner}, {var.temperature:g} C, design {cell.provenance.design})", "",
             f"{var.n_instances} instances per block, seed {var.seed} (`imc-extract mc`).", "", "## Scalars", "",
             *spread_table(var), "", "## Branch current mismatch (membrane at V0)", "",
             *current_table(var, cell.i_unit)]
    if stats is not None:
        lines += ["", f"Simulation: {stats.jobs} jobs, {stats.cache_hits} from cache, {stats.sim_seconds:.1f} s "
                  f"simulated, {stats.wall_seconds:.1f} s wall."]
    lines += ["", "## Plots", ""] + [f"![{f}]({f})" for f in plots]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return out / "report.md"
