"""`imc-verify ladder`: the bottom-up model taken apart one refinement at a time (imcpnn.neuron.LADDER), every level
measured against the SPICE spike times a finished verification holds (no new SPICE), and optionally with a global
current scale fitted per level the way `imc-verify run` fits one (SPICE in the loop, through the result cache, so an
interrupted ladder resumes where it stopped)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from imcpnn.atomic import atomic_write_json, atomic_write_text
from imcpnn.cell import design_sha256
from imcpnn.errors import ConfigError
from imcpnn.netlists import CellDesign, load_design
from imcpnn.neuron import LADDER, NeuronModel
from imcpnn.pdk import lib_line
from imcpnn.spice.cache import ResultCache
from imcpnn.verify.flow import Network, fit_scales, predicted_class
from imcpnn.verify.mapping import Scales
from imcpnn.verify.predict import model_times
from imcpnn.verify.reread import Verified
from imcpnn.verify.simulate import simulate
from imcpnn.verify.spike_errors import fmt_ns, layer_errors

LADDER_JSON, LADDER_MD = "ladder.json", "ladder.md"

#: what each level adds, for the table (docs/verification.md explains each)
ADDS = {
    "paper": "the paper's form: scalar E+ / E-, E_dis, threshold 1, ramp rate from E_dis",
    "+threshold": "the comparator's effective threshold",
    "+lambda-table": "per-synapse lambda (E against the synapse current)",
    "+firing-law": "the measured ramp rate and comparator latency",
    "+kicks": "spike-line kicks (stimulus-fed table, every layer)",
    "+neuron-kicks": "the neuron-fed kick table for layers 2..",
    "+delays": "the branches' turn-on delays",
    "+fan-in": "the fan-in law (= the full model)",
}


def level_errors(net: Network, circuit: list[np.ndarray], model: NeuronModel, t_ns: float) -> dict[str, Any]:
    """Per-layer spike-time errors (verify.spike_errors), the mean SPICE - model time over the pairs where both fire
    (a systematic offset, as against scatter; None where no pair does) and class agreement of one model against a
    circuit."""
    times = model_times(net.weights, net.test_inputs, model)
    pm, pc = predicted_class(times[-1], net.n_classes), predicted_class(circuit[-1], net.n_classes)
    acc = None if net.test_labels is None else float(np.mean(pm == net.test_labels))
    layers = layer_errors(circuit, times, t_ns)
    for e, c, m in zip(layers, circuit, times):
        both = (c < 1.0) & (m < 1.0)
        e["mean_error_ns_both_fired"] = float(np.mean(c[both] - m[both]) * t_ns) if both.any() else None
    return {"layers": layers, "class_agreement": float(np.mean(pm == pc)), "accuracy_model": acc}


def ladder(v: Verified, *, calibrate: bool = False, workers: int | None = None, cache: ResultCache | None = None,
           log: Callable[[str], None] = print, levels: Sequence[str] = LADDER) -> dict[str, Any]:
    """Every level of the ladder (or of ``levels``) against the verification's circuit as simulated, and with
    ``calibrate`` against the circuit at a global scale fitted for that level on the verification's calibration
    samples."""
    t_ns = v.cell.t_circ * 1e9
    rows = [{"level": lv, "adds": ADDS[lv], "model": v.net.model.at_level(lv).describe(),
             "as_verified": level_errors(v.net, v.circuit, v.net.model.at_level(lv), t_ns)} for lv in levels]
    if calibrate:
        _calibrated(v, rows, workers, cache, log)
    # the order of the ladder decides what each step is credited with: each refinement left out of the full model
    # instead says what it is worth with all the others on
    left_out = [{"left_out": st, "as_verified": level_errors(v.net, v.circuit,
                                                             v.net.model.refined(set(LADDER[1:]) - {st}), t_ns)}
                for st in LADDER[1:]]
    return {"verification": str(v.directory), "flow": v.summary["flow"], "source": v.summary["source"],
            "n_samples": int(len(v.net.test_inputs)), "layer_sizes": v.summary["layer_sizes"],
            "scale_as_verified": v.scales.as_dict(),
            "n_calibration": 0 if v.net.cal_inputs is None else int(len(v.net.cal_inputs)),
            "calibrated": bool(calibrate), "levels": rows, "left_out": left_out}


def _calibrated(v: Verified, rows: list[dict[str, Any]], workers: int | None, cache: ResultCache | None,
                log: Callable[[str], None]) -> None:
    if v.net.cal_inputs is None or len(v.net.cal_inputs) == 0:
        raise ConfigError("--calibrate needs calibration samples from a run's training split; a --weights "
                          "verification has none (use --no-calibrate)")
    rec, opts = v.summary["inputs"], v.options
    design = _design(v)
    lib = lib_line(rec["corner"])
    kw = dict(chunks=int(opts.get("chunks") or 2), workers=workers, cache=cache,
              wire_cap=float(opts.get("wire_cap") or 0.0), layer_netlist=opts.get("layer_netlist"),
              temp=float(v.summary["temperature"]))
    files = kw["layer_netlist"]
    gone = [f for f in ([files] if isinstance(files, str) else files or []) if not Path(f).is_file()]
    if gone:  # one file (--layer-netlist) or one per layer shape (--post-layout)
        raise ConfigError(f"the verification's layer netlist {gone[0]} is gone; --no-calibrate works")
    t_ns = v.cell.t_circ * 1e9
    circuits: dict[Scales, list[np.ndarray]] = {v.scales: v.circuit}
    for row in rows:
        model = v.net.model.at_level(row["level"])
        log(f"level {row['level']}: fitting the global current scale")
        cal = fit_scales(replace(v.net, model=model), v.cell, design, lib, "global", log, kw)
        if cal.scales not in circuits:
            log(f"level {row['level']}: simulating {len(v.net.test_inputs)} test samples at scale {cal.scales.pos:.4f}")
            # the whole test set in one transient per chunk, as the verification ran it: allow for a busy machine
            circuits[cal.scales] = simulate(v.net.weights, v.net.test_inputs, v.cell, design, lib, cal.scales,
                                            clip=bool(opts.get("clip")), timeout=3600.0, **kw).times
        row["calibrated"] = {"scale": cal.scales.pos, "calibration_rmse_ns": cal.rmse * t_ns,
                             **level_errors(v.net, circuits[cal.scales], model, t_ns)}


def _design(v: Verified) -> CellDesign:
    """The design the verification simulated: the cell's own or the named one, whichever has the recorded sha256 (of
    the design as it was written then, or as this imc-pnn writes it: a newer one adds fields with their defaults)."""
    want = v.summary["inputs"].get("design_sha256")
    for cand in (v.cell.design, v.summary["inputs"].get("design")):
        try:
            d = load_design(cand)
        except ConfigError:
            continue
        if want in (design_sha256(d.to_dict()), isinstance(cand, dict) and design_sha256(cand)):
            return d
    raise ConfigError(f"the cell design {v.summary['inputs'].get('design')!r} the verification simulated is neither "
                      f"the cell's nor a built-in one; --no-calibrate needs no design")


def check_ladder_out(out: Path, force: bool) -> None:
    """Before any work: an earlier ladder in ``out`` is replaced only with ``force``."""
    if (out / LADDER_JSON).exists() and not force:
        raise ConfigError(f"{out} already holds a model ladder; pass --force to replace it or pick another --out")


def write_ladder(out: Path, result: dict[str, Any], command: str = "") -> Path:
    """ladder.json and ladder.md in ``out`` (each written atomically); returns the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / LADDER_JSON, {**result, "command": command})
    return atomic_write_text(out / LADDER_MD, ladder_markdown(result, command))


def _pairs(e: dict[str, Any]) -> str:
    return f"{e['both_fired']} / {e['both_silent']} / {e['only_circuit_fired']} / {e['only_model_fired']}"


def _mean(e: dict[str, Any]) -> str:
    return "n/a" if e["mean_error_ns_both_fired"] is None else f"{e['mean_error_ns_both_fired']:+.2f}"


def _cells(errs: dict[str, Any]) -> list[str]:
    """Output layer: RMSE fired / all; hidden layers (; between several): the same; mean SPICE - model, output /
    hidden; pairs of the output layer and the hidden ones; class agreement."""
    layers = errs["layers"]
    out, hidden = layers[-1], layers[:-1]
    fig = lambda e: f"{fmt_ns(e['rmse_ns_fired'])} / {e['rmse_ns']:.2f}"  # noqa: E731
    return [f"**{fig(out)}**", "; ".join(fig(e) for e in hidden) or "-", " / ".join(_mean(e) for e in [out, *hidden]),
            _pairs(out), "; ".join(_pairs(e) for e in hidden) or "-", f"{errs['class_agreement']:.0%}"]


def ladder_markdown(result: dict[str, Any], command: str = "") -> str:
    head = ("| level | adds | output RMSE fired / all (ns) | hidden RMSE fired / all (ns) | mean SPICE - model, "
            "output / hidden (ns) | output pairs | hidden pairs | class agreement |")
    sv = result["scale_as_verified"]
    lines = [f"# Model ladder: {result['flow']} ({result['source']})", "",
             f"The bottom-up model one refinement at a time, each level predicting the SPICE spike times of "
             f"`{result['verification']}` ({result['n_samples']} test samples, layers {result['layer_sizes']}). "
             "RMSE over the pairs where model or SPICE fires / over all pairs; the mean SPICE - model time over the "
             "pairs where both fire (+: the circuit fires later); pairs: both fired / both silent / only SPICE / only "
             "model.", ""]
    if command:
        lines += ["Command: `" + command + "`", ""]
    lines += [f"## The circuit as verified (current scale +{sv['pos']:.4f} / -{sv['neg']:.4f})", "", head,
              "| --- " * 8 + "|"]
    lines += ["| " + " | ".join([r["level"], r["adds"], *_cells(r["as_verified"])]) + " |" for r in result["levels"]]
    if result["calibrated"]:
        lines += ["", f"## A global current scale fitted per level ({result['n_calibration']} calibration samples, "
                  "SPICE in the loop)", "", head.replace("| adds |", "| scale |"), "| --- " * 8 + "|"]
        lines += ["| " + " | ".join([r["level"], f"{r['calibrated']['scale']:.4f}", *_cells(r["calibrated"])])
                  + " |" for r in result["levels"]]
    lines += ["", "## The full model with one refinement left out (the circuit as verified)", "",
              head.replace("| level | adds |", "| model |"), "| --- " * 7 + "|"]
    lines += ["| " + " | ".join([f"full without {r['left_out']}", *_cells(r["as_verified"])]) + " |"
              for r in result["left_out"]]
    return "\n".join(lines) + "\n"
