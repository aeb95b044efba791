"""The report of a verification across conditions: grid.json, grid.md and grid.png (docs/verification.md
"Across conditions"). Built from the finished conditions' own directories, so a resumed grid reports all of them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from imcpnn.verify.spike_errors import fmt_ns

METRICS = ("accuracy_spice", "class_agreement", "rmse_ns", "rmse_ns_fired")


def condition_row(cond, summary: dict, cell_model: dict | None = None, cell_path: str | None = None) -> dict:
    """One condition's figures: SPICE accuracy, agreement with the run's model, output-layer RMSE (all pairs and the
    pairs where model or circuit fires), and with a cell extracted there the same against that cell's model."""
    row = {**cond.to_dict(), **{k: summary.get(k) for k in METRICS}, "accuracy_model": summary.get("accuracy_model"),
           "n_samples": summary["n_samples"], "scale": summary["scale"]}
    e = summary["errors_per_layer"][-1]  # how many output spikes each side has: silence reads as class 0
    row["output_spikes_spice"] = e["both_fired"] + e["only_circuit_fired"]
    row["output_spikes_model"] = e["both_fired"] + e["only_model_fired"]
    row["condition_cell"] = None if cell_model is None else {"path": cell_path, **cell_model}
    prog = summary.get("programming")  # a written instance: its first read (as drawn) and its last
    row["programming"] = None if not prog else {"reads": len(prog["reads"]), "converged": prog["converged"],
                                                "as_drawn": prog["reads"][0], "written": prog["reads"][-1]}
    return row


def _pct(values: list, q: float) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.percentile(v, q)) if v else None


def add_losses(rows: list[dict], nominal: str) -> dict | None:
    """Each row's SPICE accuracy loss against the `nominal` condition's (the one the chip was programmed at), in
    points (positive: worse), into row['accuracy_loss_points']; returns the worst row (lowest SPICE accuracy), or
    None without labels or without the nominal condition among the rows."""
    base = next((r["accuracy_spice"] for r in rows if r["name"] == nominal), None)
    for r in rows:
        a = r["accuracy_spice"]
        r["accuracy_loss_points"] = None if base is None or a is None else 100.0 * (base - a)
    scored = [r for r in rows if r["accuracy_loss_points"] is not None]
    return max(scored, key=lambda r: r["accuracy_loss_points"]) if scored else None


def mc_groups(rows: list[dict]) -> list[dict]:
    """Per (corner, temperature) with Monte-Carlo instances: p50/p95 of the RMSEs and of the accuracy loss against
    the nominal condition (add_losses), p50 and min of the accuracy and agreement, over the instances."""
    keys = sorted({(r["corner"], r["temperature"]) for r in rows if r["mc_seed"] is not None})
    out = []
    for corner, temp in keys:
        g = [r for r in rows if r["mc_seed"] is not None and (r["corner"], r["temperature"]) == (corner, temp)]
        acc = [r["accuracy_spice"] for r in g]
        agree = [r["class_agreement"] for r in g]
        out.append({"section": f"{corner}_mm", "corner": corner, "temperature": temp, "instances": len(g),
                    "seeds": [r["mc_seed"] for r in g],
                    "accuracy_spice_p50": _pct(acc, 50), "accuracy_spice_min": min((a for a in acc if a is not None),
                                                                                  default=None),
                    "class_agreement_p50": _pct(agree, 50), "class_agreement_min": min(agree),
                    "rmse_ns_p50": _pct([r["rmse_ns"] for r in g], 50),
                    "rmse_ns_p95": _pct([r["rmse_ns"] for r in g], 95),
                    "rmse_ns_fired_p50": _pct([r["rmse_ns_fired"] for r in g], 50),
                    "rmse_ns_fired_p95": _pct([r["rmse_ns_fired"] for r in g], 95),
                    "accuracy_loss_points_p50": _pct([r.get("accuracy_loss_points") for r in g], 50),
                    "accuracy_loss_points_p95": _pct([r.get("accuracy_loss_points") for r in g], 95)})
    return out


def _acc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _points(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}"


def _markdown(rows: list[dict], groups: list[dict], meta: dict, worst: dict | None, nominal: str) -> str:
    lines = [f"# Verification across conditions: {meta['source']}", "",
             f"{meta['n_samples']} test samples per condition; the chip is programmed once ({meta['programming']}); "
             "errors are output-layer spike-time RMSEs against the run's model, over all pairs and over the pairs "
             "where model or circuit fires.", "",
             f"This call simulated {meta['simulated_this_call']} of the {len(rows)} conditions in "
             f"{meta['seconds_this_call']:.0f} s (wall; the others were finished before).", "",
             f"| condition | accuracy SPICE | loss vs {nominal} (points) | class agreement | RMSE all (ns) | RMSE fired "
             "(ns) | output spikes SPICE / model | cell model: agreement / RMSE fired (ns) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        c = r["condition_cell"]
        own = "-" if c is None else f"{c['class_agreement']:.1%} / {fmt_ns(c['rmse_ns_fired'])}"
        lines.append(f"| {r['name']} | {_acc(r['accuracy_spice'])} | {_points(r['accuracy_loss_points'])} | "
                     f"{r['class_agreement']:.1%} | "
                     f"{r['rmse_ns']:.2f} | {fmt_ns(r['rmse_ns_fired'])} | "
                     f"{r['output_spikes_spice']} / {r['output_spikes_model']} | {own} |")
    if groups:
        lines += ["", "Monte-Carlo mismatch (each instance one seeded draw of every device, the same circuit in all "
                  "of its transients):", "",
                  "| section / temp | instances | accuracy p50 / min | loss p50 / p95 (points) | agreement p50 / min | "
                  "RMSE all p50 / p95 (ns) | RMSE fired p50 / p95 (ns) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for g in groups:
            lines.append(f"| {g['section']} / {g['temperature']:g} C | {g['instances']} (seeds {g['seeds'][0]}.."
                         f"{g['seeds'][-1]}) | {_acc(g['accuracy_spice_p50'])} / {_acc(g['accuracy_spice_min'])} | "
                         f"{_points(g['accuracy_loss_points_p50'])} / {_points(g['accuracy_loss_points_p95'])} | "
                         f"{g['class_agreement_p50']:.1%} / {g['class_agreement_min']:.1%} | "
                         f"{g['rmse_ns_p50']:.2f} / {g['rmse_ns_p95']:.2f} | {fmt_ns(g['rmse_ns_fired_p50'])} / "
                         f"{fmt_ns(g['rmse_ns_fired_p95'])} |")
    written = [r for r in rows if r.get("programming")]
    if written:
        lines += ["", "Written and verified (verify/program.py): each instance's worst and RMS error against the "
                  "nominal chip's readings, as drawn -> as written:", "",
                  "| instance | reads | synapse current RMS / worst | discharge current RMS / worst | switching point "
                  "RMS / worst (mV) |", "| --- | --- | --- | --- | --- |"]
        for r in written:
            a, b = r["programming"]["as_drawn"], r["programming"]["written"]
            lines.append(f"| {r['name']} | {r['programming']['reads']}"
                         f"{'' if r['programming']['converged'] else ' (not within tolerance)'} | "
                         f"{a['synapse_rms_rel']:.1%} / {a['synapse_worst_rel']:.1%} -> {b['synapse_rms_rel']:.2%} / "
                         f"{b['synapse_worst_rel']:.2%} | {a['i_dis_rms_rel']:.1%} / {a['i_dis_worst_rel']:.1%} -> "
                         f"{b['i_dis_rms_rel']:.2%} / {b['i_dis_worst_rel']:.2%} | {a['v_switch_rms_mv']:.1f} / "
                         f"{a['v_switch_worst_mv']:.1f} -> {b['v_switch_rms_mv']:.3f} / {b['v_switch_worst_mv']:.3f} |")
    if worst is not None:
        lines += ["", f"Worst case: {worst['name']}, accuracy {_acc(worst['accuracy_spice'])} "
                      f"({_points(worst['accuracy_loss_points'])} points against {nominal})."]
    lines += ["", "Each condition's verification (netlists, spike times, report) is in `conditions/<condition>/`.",
              "", "![grid](grid.png)", ""]
    return "\n".join(lines)


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # lazy: only the report draws, and matplotlib takes a second to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(6.0, 0.45 * len(rows) + 4), 3.4))
    a1.bar(x, [r["class_agreement"] for r in rows], color="tab:blue", label="class agreement")
    acc = [r["accuracy_spice"] for r in rows]
    if any(a is not None for a in acc):
        a1.plot(x, [np.nan if a is None else a for a in acc], "o", color="tab:orange", label="accuracy (SPICE)")
    a1.set_ylim(0, 1.05)
    a1.legend(fontsize=7)
    a2.plot(x, [r["rmse_ns"] for r in rows], "s", label="all pairs")
    a2.plot(x, [np.nan if r["rmse_ns_fired"] is None else r["rmse_ns_fired"] for r in rows], "o", label="fired pairs")
    a2.set_ylabel("output-layer RMSE (ns)")
    a2.legend(fontsize=7)
    for a in (a1, a2):
        a.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_grid_report(out: Path, rows: list[dict], meta: dict) -> Path:
    """grid.json, grid.md and grid.png in `out`; returns grid.md."""
    nominal = meta["settings"]["program_at"]["name"]
    worst = add_losses(rows, nominal)
    groups = mc_groups(rows)
    atomic_write_json(out / "grid.json", {**meta, "conditions": rows, "monte_carlo": groups,
                                          "worst_case": None if worst is None else worst["name"]})
    _plot(rows, out / "grid.png")
    return atomic_write_text(out / "grid.md", _markdown(rows, groups, meta, worst, nominal))
