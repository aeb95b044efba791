"""Monte-Carlo mismatch in the two device forms: is every device's draw per instance, seeded, reproducible, and of the
same spread in the flat form (imcpnn.pdk.flat) as through the sky130 wrapper subcircuits?

One netlist per (form, seed): N identical FETs of one of the design's geometries, each with its own drain source,
in the corner's `_mm` section with `.options seed=S` (as `imc-verify grid --mc` writes it), DC-swept in gate voltage
through the project's engine. Prints per form and gate voltage the relative spread (std / mean of the drain current
over all N x seeds instances) with a 95 % interval (bootstrap over instances), the ratio flat / subckt with its
interval, whether a seed run twice draws the same currents, and how far a seed's draws in one form are from the same
seed's in the other (the correlation over the instances).

    .venv/bin/python benchmarks/flat_mismatch.py [--fet syn_n_mem] [--n 100] [--seeds 1-5] [--corner tt] \
        [--vg 0.45,0.9] [--vd 0.9] [--json F]

(a PMOS: --vg 1.35,0.9 for the same |Vgs|, its source at vdd)
"""

from __future__ import annotations

import argparse

import numpy as np

from imcpnn.atomic import atomic_write_json
from imcpnn.netlists import default_design
from imcpnn.netlists.cells import in_device_form
from imcpnn.pdk import lib_line
from imcpnn.spice.analyses import Dc
from imcpnn.spice.jobs import SimJob, execute

FORMS = ("subckt", "flat")


def netlist(design, fet, lib: str, n: int, seed: int, vd: float, vgs: list[float]) -> tuple[str, Dc]:
    """n identical FETs, drains at vd through their own sources, gates on one swept source; a PMOS has its source
    and body at vdd."""
    rail = "0" if fet.polarity == "n" else "vdd"
    lines = ["* mismatch spread", lib, f".options seed={seed}", "Vg g 0 DC 0", f"Vdd vdd 0 DC {design.vdd}"]
    for k in range(n):
        lines += [f"Vd{k} d{k} 0 DC {vd}", fet.instance(f"M{k}", f"d{k}", "g", rail, rail)]
    text = in_device_form("\n".join(lines), design, lib) + "\n.end\n"
    step = (vgs[-1] - vgs[0]) / max(1, len(vgs) - 1) or 1.0
    return text, Dc("vg", vgs[0], vgs[-1], step)


def currents(design, fet, lib: str, n: int, seed: int, vd: float, vgs: list[float]) -> np.ndarray:
    """(n, len(vgs)) drain currents."""
    text, dc = netlist(design, fet, lib, n, seed, vd, vgs)
    plot = execute(SimJob(text, (dc,))).unwrap()[0]
    return np.stack([np.abs(np.asarray(plot[f"vd{k}#branch"])) for k in range(n)])


def rel_spread(i: np.ndarray) -> float:
    return float(i.std(ddof=1) / i.mean())


def boot(i: np.ndarray, rng: np.random.Generator, reps: int = 2000) -> np.ndarray:
    """Bootstrap replicas of the relative spread of the instances in i (one value per row)."""
    idx = rng.integers(0, len(i), (reps, len(i)))
    s = i[idx]
    return s.std(axis=1, ddof=1) / s.mean(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fet", default="syn_n_mem", help="a Fet field of the default design")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--corner", default="tt")
    ap.add_argument("--vg", default="0.45,0.9", help="first,last gate voltage of the sweep (2 points)")
    ap.add_argument("--vd", type=float, default=0.9)
    ap.add_argument("--json")
    args = ap.parse_args()
    a, b = (int(x) for x in args.seeds.split("-"))
    seeds = list(range(a, b + 1))
    vgs = [float(v) for v in args.vg.split(",")]
    base = default_design()
    fet = getattr(base, args.fet)
    lib = lib_line(args.corner + "_mm")
    cur = {f: np.stack([currents(base.derive(device_form=f), fet, lib, args.n, s, args.vd, vgs) for s in seeds])
           for f in FORMS}  # (seeds, n, vg)
    again = currents(base.derive(device_form="flat"), fet, lib, args.n, seeds[0], args.vd, vgs)
    again_s = currents(base.derive(device_form="subckt"), fet, lib, args.n, seeds[0], args.vd, vgs)
    rng = np.random.default_rng(0)
    out = {"fet": args.fet, "geometry": [fet.flavour, fet.w, fet.l], "n": args.n, "seeds": seeds, "vg": vgs, "rows": [],
           "flat_reproducible": bool(np.array_equal(again, cur["flat"][0])),
           "subckt_reproducible": bool(np.array_equal(again_s, cur["subckt"][0]))}
    print(f"{fet.flavour} W={fet.w} L={fet.l}, {args.n} devices x seeds {seeds} in {args.corner}_mm; the same seed run "
          f"twice draws the same currents: flat {out['flat_reproducible']}, subckt {out['subckt_reproducible']}")
    for j, vg in enumerate(vgs):
        s = {f: cur[f][:, :, j].ravel() for f in FORMS}
        bs = {f: boot(s[f], rng) for f in FORMS}
        ratio = bs["flat"] / bs["subckt"]
        corr = [float(np.corrcoef(cur["flat"][k, :, j], cur["subckt"][k, :, j])[0, 1]) for k in range(len(seeds))]
        per_seed = {f: [rel_spread(cur[f][k, :, j]) for k in range(len(seeds))] for f in FORMS}
        row = {"vg": vg, **{f"{f}_rel_sigma": rel_spread(s[f]) for f in FORMS},
               **{f"{f}_ci95": np.percentile(bs[f], [2.5, 97.5]).tolist() for f in FORMS},
               "ratio": rel_spread(s["flat"]) / rel_spread(s["subckt"]),
               "ratio_ci95": np.percentile(ratio, [2.5, 97.5]).tolist(),
               "mean_ratio": float(s["flat"].mean() / s["subckt"].mean()), "same_seed_corr": corr,
               "per_seed_rel_sigma": per_seed}
        out["rows"].append(row)
        print(f"Vg {vg:g} V: relative sigma subckt {row['subckt_rel_sigma']:.4f} "
              f"[{row['subckt_ci95'][0]:.4f}, {row['subckt_ci95'][1]:.4f}], flat {row['flat_rel_sigma']:.4f} "
              f"[{row['flat_ci95'][0]:.4f}, {row['flat_ci95'][1]:.4f}]; ratio {row['ratio']:.3f} "
              f"[{row['ratio_ci95'][0]:.3f}, {row['ratio_ci95'][1]:.3f}]; mean current flat / subckt "
              f"{row['mean_ratio']:.4f}; same-seed correlation per seed "
              + ", ".join(f"{c:.2f}" for c in corr), flush=True)
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
