"""`imc-verify compare`: two or more verifications side by side, each labelled from its own summary."""

from __future__ import annotations

from pathlib import Path

from imcpnn.atomic import atomic_write_json, atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.verify.record import load_summary
from imcpnn.verify.report import model_line
from imcpnn.verify.spike_errors import fmt_ns

def verification_dir(p: Path) -> Path:
    """A verification directory, or a run directory with its verification in verify/."""
    p = Path(p)
    return p / "verify" if (p / "verify" / "summary.json").is_file() else p


def label(s: dict) -> str:
    """`bottom-up (run iris-bottomup)`: the flow and where the network came from."""
    return f"{s['flow']} ({s['source']})"


def _fmt_table(sides: list[dict]) -> list[str]:
    def row(name, key, fmt):
        cells = []
        for s in sides:
            try:
                cells.append(fmt(s[key]))
            except (TypeError, KeyError, ValueError):
                cells.append("?")
        return f"| {name} | " + " | ".join(cells) + " |"

    acc = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    return [
        "| | " + " | ".join(label(s) for s in sides) + " |", "| --- |" + " --- |" * len(sides),
        row("output-layer RMSE, all pairs (ns)", "rmse_ns", lambda v: f"**{v:.2f}**"),
        row("output-layer RMSE, pairs where model or SPICE fires (ns)", "rmse_ns_fired", lambda v: f"**{fmt_ns(v)}**"),
        row("RMSE per layer (ns)", "rmse_ns_per_layer", lambda v: ", ".join(f"{x:.2f}" for x in v)),
        row("class agreement", "class_agreement", lambda v: f"{v:.1%}"),
        row("test accuracy, model", "accuracy_model", acc),
        row("test accuracy, SPICE", "accuracy_spice", acc),
        row("current scale (+/-)", "scale", lambda v: f"{v['pos']:.3f} / {v['neg']:.3f}"),
        row("model", "model", model_line),
    ]


def compare(dirs: list[Path], out: Path | None = None) -> dict:
    """Compare verifications (or run dirs holding one); RMSE ratios are relative to the first."""
    if len(dirs) < 2:
        raise ConfigError("compare needs two or more verification directories")
    vdirs = [verification_dir(d) for d in dirs]
    sides = [load_summary(d) for d in vdirs]
    base = sides[0]["rmse_ns"]
    res = {"sides": [{"label": label(s), "dir": str(d), "rmse_ns": s["rmse_ns"], "rmse_ns_fired": s["rmse_ns_fired"],
                      "ratio_to_first": s["rmse_ns"] / base if base > 0 else float("inf"),
                      "class_agreement": s["class_agreement"], "scale": s["scale"]}
                     for s, d in zip(sides, vdirs)]}
    out = Path(out) if out else Path(dirs[0]).parent / "comparison"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "comparison.json", res)
    ratios = ", ".join(f"{x['label']} {x['ratio_to_first']:.1f}x" for x in res["sides"][1:])
    flows = {s["flow"]: s["rmse_ns"] for s in sides}
    paper = []
    if {"bottom-up", "top-down"} <= flows.keys() and flows["bottom-up"] > 0:
        paper = [f"Top-down error is **{flows['top-down'] / flows['bottom-up']:.1f}x** the bottom-up error "
                 "(paper: 39.04 ns vs 1.97 ns, about 20x).", ""]
    md = "\n".join([
        "# Model-to-circuit error, side by side", "",
        *_fmt_table(sides), "",
        f"Output-layer RMSE relative to {label(sides[0])}: {ratios}.", "", *paper,
        "Details: " + ", ".join(f"`{d}/report.md`" for d in vdirs) + ".", ""])
    atomic_write_text(out / "comparison.md", md)
    res["report"] = str(out / "comparison.md")
    return res
