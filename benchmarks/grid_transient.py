"""What a verification grid's transient costs under other simulator settings, and whether its spike times stay: a
run's test samples simulated (one chunk, one worker, no result cache) with the design's settings and with a larger
step limit (--max-steps) or the flat device form (--forms, docs/circuit.md "Netlist scale"), side by side in one run.
Prints per setting the wall and CPU time, their ratio to the first setting, and how far the spike times are from the
first setting's: RMS and max over the pairs where either side fires, per layer, and the spike counts.

    .venv/bin/python benchmarks/grid_transient.py RUN_DIR [--cell cell.json] [--samples 25] \
        [--max-steps 2e-8,5e-8] [--forms subckt,flat] [--reltols 1e-4] [--settings FORM:STEP:RELTOL[:bypass],...] \
        [--corner tt] [--temp 27] [--seed N] [--scale 1.0] [--json F]

Every max step is run in every form at every reltol (or exactly the --settings listed); the first is the reference,
and every pair of settings is also compared at the end (so a pair at a tight reltol separates a model difference
from the integration noise that the design's reltol leaves). `--seed N` simulates one Monte-Carlo instance
(the corner's _mm section), as `imc-verify grid --mc` does. A setting ending in `:bypass` turns on ngspice's device
bypass, as `imc-verify --integration bypass` (the grid's default, at half the design's reltol) does. The CPU time is
this process's (libngspice runs in it, one thread), so the ratio holds on a loaded machine where the wall time does
not. The project's equivalence standard for two circuit settings is <= 0.05 ns RMS over fired pairs. The design
accepts a max step up to 5 % of t_circ (50 ns at 1 us). Figures: docs/verification.md "The full grid".
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.cell import load_cell
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.verify.mapping import Scales
from imcpnn.spice.session import Session
from imcpnn.verify.simulate import build_bundles, simulate
from imcpnn.verify.sources import from_run


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fired_difference(a: np.ndarray, b: np.ndarray, t_ns: float) -> dict:
    """RMS and max |a - b| (ns) over the pairs where either fires (t < 1), and the spike counts of both."""
    fired = (a < 1) | (b < 1)
    d = (a - b)[fired] * t_ns
    return {"rms_ns": float(np.sqrt(np.mean(d ** 2))) if d.size else 0.0,
            "max_ns": float(np.abs(d).max()) if d.size else 0.0,
            "spikes": [int((a < 1).sum()), int((b < 1).sum())]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--cell", type=Path, help="cell that maps the weights and sets the neuron biases (default: the "
                                              "run's own)")
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--max-steps", default="2e-8", help="the first is the reference")
    ap.add_argument("--forms", default="subckt", help="device forms (subckt, flat); the first is the reference")
    ap.add_argument("--reltols", default=None, help="reltols (default: the design's)")
    ap.add_argument("--settings", default=None,
                    help="FORM:MAX_STEP:RELTOL[:bypass],... instead of the product above (bypass: ngspice's device "
                         "bypass, as imc-verify --integration bypass sets it)")
    ap.add_argument("--corner", default="tt")
    ap.add_argument("--temp", type=float, default=27.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--load-only", action="store_true",
                    help="only load each setting's netlist (ngspice reading and expanding it, the Monte-Carlo "
                         "draws), no transient: what every transient pays before its first step")
    ap.add_argument("--acct", action="store_true",
                    help="with --load-only: also run the transient and print ngspice's own account of it (rusage "
                         "all: time points, iterations, device evaluation and matrix solution times)")
    ap.add_argument("--json")
    args = ap.parse_args()
    net, _ = from_run(args.run_dir, n_samples=args.samples, with_cell=False)
    cell = load_cell(args.cell or args.run_dir / "cell.json")
    design = load_design(cell.design).derive(v_b_dis=float(cell.design["v_b_dis"]),
                                             v_b_sense=float(cell.design["v_b_sense"]))
    section = args.corner + ("_mm" if args.seed is not None else "")
    t_ns = cell.t_circ * 1e9
    rows, ref = [], None
    settings = _settings(args, design.reltol)
    runs = []
    for step, form, reltol, bypass in settings:
        d = design.derive(max_step=step, device_form=form, reltol=reltol, bypass=bypass)
        if args.load_only:
            _load(net, cell, d, section, args, form)
            continue
        t0, c0 = time.perf_counter(), _cpu_seconds()
        times = simulate(net.weights, net.test_inputs, cell, d, lib_line(section), Scales.global_(args.scale),
                         clip=True, chunks=1, workers=1, progress=False, temp=args.temp, seed=args.seed).times
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        ref = ref or {"times": times, "wall": wall, "cpu": cpu}
        runs.append(((form + (" bypass" if bypass else ""), step, reltol), times))
        layers = [fired_difference(a, b, t_ns) for a, b in zip(times, ref["times"])]
        rows.append({"max_step": step, "device_form": form, "reltol": reltol, "bypass": bypass, "wall_s": wall,
                     "cpu_s": cpu,
                     "speed_wall": ref["wall"] / wall, "speed_cpu": ref["cpu"] / cpu, "layers": layers})
        print(f"max step {step:g} s, {form}, reltol {reltol:g}{', bypass' if bypass else ''}: wall {wall:.1f} s, "
              f"CPU {cpu:.1f} s, "
              f"speed x{ref['wall'] / wall:.2f} "
              f"wall / x{ref['cpu'] / cpu:.2f} CPU; spike times against the first setting, per layer: "
              + "; ".join(f"RMS {e['rms_ns']:.3f} / max {e['max_ns']:.3f} ns, spikes {e['spikes'][0]} vs "
                          f"{e['spikes'][1]}" for e in layers), flush=True)
    pairs = _pairs(runs, t_ns)
    if args.json:
        atomic_write_json(args.json, {"run": str(args.run_dir), "section": section, "temp": args.temp,
                                      "seed": args.seed, "samples": args.samples, "rows": rows, "pairs": pairs,
                                      "times": [[t.tolist() for t in times] for _, times in runs]})


_ACCT = ("tran", "time", "iter", "load", "lu", "solve", "reorder", "points", "accepted", "rejected")


def _load(net, cell, design, section: str, args, form: str) -> None:
    """CPU and wall time of loading the samples' netlist (one chunk) in this process's ngspice."""
    bundles, _, _ = build_bundles(net.weights, np.asarray(net.test_inputs, float), cell, design, lib_line(section),
                                  Scales.global_(args.scale), clip=True, chunks=1, temp=args.temp, seed=args.seed)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    with Session(bundles[0].text, title="load") as s:
        t1, c1 = time.perf_counter(), _cpu_seconds()
        s.run("op")  # ngspice sets the devices up (model binning, temperature) at the first analysis
        t2, c2 = time.perf_counter(), _cpu_seconds()
        if args.acct:
            s.run(bundles[0].tran, ["time"])
            c3 = _cpu_seconds()
            acct = s.cmd("rusage all")
            print(f"{form}: transient {c3 - c2:.2f} s CPU; ngspice's account:\n" + "\n".join(
                line for line in acct.splitlines() if any(k in line.lower() for k in _ACCT)), flush=True)
    print(f"{form}: load {c1 - c0:.2f} s CPU / {t1 - t0:.2f} s wall, then the first operating point (device set-up "
          f"included) {c2 - c1:.2f} s CPU / {t2 - t1:.2f} s wall ({bundles[0].text.count(chr(10))} netlist lines)",
          flush=True)


def _settings(args, reltol: float) -> list[tuple[float, str, float, bool]]:
    """(max step, form, reltol, device bypass) of each simulation, the reference first."""
    if args.settings:
        out = []
        for item in args.settings.split(","):
            form, step, rt, *extra = item.split(":")
            if extra not in ([], ["bypass"]):
                raise SystemExit(f"--settings {item}: FORM:MAX_STEP:RELTOL or FORM:MAX_STEP:RELTOL:bypass")
            out.append((float(step), form, float(rt), extra == ["bypass"]))
        return out
    rts = [float(r) for r in args.reltols.split(",")] if args.reltols else [reltol]
    return [(float(s), f, r, False) for r in rts for s in args.max_steps.split(",") for f in args.forms.split(",")]


def _pairs(runs: list, t_ns: float) -> list[dict]:
    """Every pair of settings: the spike-time difference per layer (printed and returned)."""
    out = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            (a, ta), (b, tb) = runs[i], runs[j]
            layers = [fired_difference(x, y, t_ns) for x, y in zip(tb, ta)]
            out.append({"a": list(a), "b": list(b), "layers": layers})
            print(f"pair {a[0]} {a[1]:g} {a[2]:g} vs {b[0]} {b[1]:g} {b[2]:g}: "
                  + "; ".join(f"RMS {e['rms_ns']:.3f} / max {e['max_ns']:.3f} ns, spikes {e['spikes'][1]} vs "
                              f"{e['spikes'][0]}" for e in layers), flush=True)
    return out


if __name__ == "__main__":
    main()
