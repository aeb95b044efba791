"""`imc-verify compare`: the bottom-up flow against the top-down flow, side by side."""

from __future__ import annotations

from pathlib import Path

from imcpnn.atomic import atomic_write_json, atomic_write_text
from imcpnn.verify.record import load_summary
from imcpnn.verify.report import model_line


def compare(bottomup: Path, topdown: Path, out: Path | None = None) -> dict:
    a, b = load_summary(bottomup), load_summary(topdown)
    ratio = b["rmse_ns"] / a["rmse_ns"] if a["rmse_ns"] > 0 else float("inf")
    res = {"bottom_up": str(bottomup), "top_down": str(topdown), "rmse_ns_bottom_up": a["rmse_ns"],
           "rmse_ns_top_down": b["rmse_ns"], "ratio": ratio,
           "class_agreement_bottom_up": a["class_agreement"], "class_agreement_top_down": b["class_agreement"],
           "scale_bottom_up": a["scale"], "scale_top_down": b["scale"]}
    out = Path(out) if out else Path(bottomup).parent / "comparison"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "comparison.json", res)

    def row(name, key, fmt):
        return f"| {name} | {fmt(a[key])} | {fmt(b[key])} |"

    acc = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    md = "\n".join([
        "# Model-to-circuit error: bottom-up (PNN-to-IMC) vs top-down (ANN-to-IMC)", "",
        "| | bottom-up | top-down |", "| --- | --- | --- |",
        row("output-layer RMSE (ns)", "rmse_ns", lambda v: f"**{v:.2f}**"),
        row("RMSE per layer (ns)", "rmse_ns_per_layer", lambda v: ", ".join(f"{x:.2f}" for x in v)),
        row("class agreement", "class_agreement", lambda v: f"{v:.1%}"),
        row("test accuracy, model", "accuracy_model", acc),
        row("test accuracy, SPICE", "accuracy_spice", acc),
        row("current scale (+/-)", "scale", lambda v: f"{v['pos']:.3f} / {v['neg']:.3f}"),
        row("model", "model", model_line),
        "", f"Top-down error is **{ratio:.1f}x** the bottom-up error (paper: 39.04 ns vs 1.97 ns, about 20x).", "",
        f"Details: `{bottomup}/report.md`, `{topdown}/report.md`.", ""])
    atomic_write_text(out / "comparison.md", md)
    res["report"] = str(out / "comparison.md")
    return res
