"""The paper-claims table: docs/paper.md §7.1's claims (and issue 17's sub-claims) against the project's figures.

    python scripts/paper_claims.py [render] [--results docs/results] [--out docs/paper-claims.md]
    python scripts/paper_claims.py from-cell CELL.json [--results docs/results]           # claim 7
    python scripts/paper_claims.py from-comparison COMPARISON.json [--results ...]         # claim 8
    python scripts/paper_claims.py from-ladder LADDER.json [--results ...]                 # claim 8 (ladder)

`render` (the default) writes docs/paper-claims.md from CLAIMS below and the result files in the results folder;
nothing is re-measured. A claim with no result file shows "not yet measured" (or "not possible here" with the reason,
for the data this machine cannot reach) next to the command that measures it.

Adding a figure: the command that measures a claim writes `docs/results/<id>.json` through
`imcpnn.results.write_result(folder, "<id>", figure=..., status=..., why=..., command=..., conditions=..., data=...)`;
its format (schema 1) is in imcpnn/results.py:

    {"schema": 1, "claim": "<id>", "figure": "<one line>", "status": "reproduced|partial|differs|not possible here",
     "why": "<one sentence>", "command": "<the command that wrote it>", "date": "<UTC>", "conditions": {...},
     "data": {...}}

`<id>` is one of CLAIMS' ids; a result with an id CLAIMS does not list gets its own row when it carries
"paper_claim" and "paper_figure". To register a claim, add an entry to CLAIMS with the command that measures
it. `from-cell` and `from-comparison` turn an extraction's cell.json and
`imc-verify compare`'s comparison.json into the results of claims 7 and 8.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imcpnn.atomic import atomic_write_text
from imcpnn.cell import load_cell
from imcpnn.errors import ImcError
from imcpnn.results import read_results, write_result
from imcpnn.train.config import file_sha256

ROOT = Path(__file__).resolve().parents[1]
NO_DATA = "Fashion-MNIST / CIFAR-10 cannot be downloaded here; the command runs where data/ holds the files " \
          "(docs/training.md)"

#: (id, §7.1 number or sub-claim, claim, paper's figure, command, reason it cannot run here or "")
CLAIMS: list[tuple[str, str, str, str, str, str]] = [
    ("1", "1", "DSTD error scales as O(M^-2 |E|^-1)", "Fig. 3a/b, Theorem 1: 10 neurons, 1000 samples x 1000 "
     "uniform spikes", "python benchmarks/dstd_error.py --result docs/results", ""),
    ("2", "2", "DSTD is faster and leaner than the exact method (RC-Spike)", "v2: up to 20x faster, 100x less "
     "memory; v1 M = 10: about 30x faster, 100x less memory (1000 neurons, batch 100, V100)",
     "python benchmarks/dstd_vs_exact.py --n-in 1000 --samples 200 --result docs/results", ""),
    ("2-ttfs", "2 (TTFS)", "TTFS with DSTD is faster and leaner than exact TTFS", "v1: M = 20 about 10x less "
     "memory, '1000x' faster", "python benchmarks/dstd_vs_exact.py --model ttfs --n-in 100 --samples 200 "
     "--result docs/results", ""),
    ("3", "3", "Fashion-MNIST MLP 784-400-400-10", "90.40 % (Table 3, σ 0.01, |E| 30.7); 90.4-90.5 % over σ",
     "imc-train run fmnist-mlp", NO_DATA),
    ("3-offset", "3 (offset)", "Random DSTD offset: M = 3 about as good as M = 15; fixed offset loses at M = 3",
     "Fig. 4 (Fashion-MNIST MLP)", "imc-train sweep digits-mlp --param steps=3,15 --param offset=fixed,random "
     "--seeds 2 --jobs 2 --out runs/digits-offset && python benchmarks/digits_offset.py runs/digits-offset", ""),
    ("4", "4", "Fashion-MNIST CNN (VGG7-like)", "94.09 % (Table 3, σ 0.01, |E| 3.3); about 94.1 %",
     "imc-train run fmnist-cnn", NO_DATA),
    ("5", "5", "CIFAR-10 CNN", "89.13 % (σ 0, |E| 2.3); 88.51 % at σ 0.01, |E| 3.3",
     "imc-train run cifar10-cnn --set sigma=0 --set e_rev=2.3", NO_DATA),
    ("5-wide", "5 (width x2)", "CIFAR-10 CNN, double width", "90.27 % (σ 0, |E| 1.1); 90.25 % at σ 0.01, |E| 2.0",
     "imc-train run cifar10-cnn-wide", NO_DATA),
    ("5-best-e", "5 (best |E|)", "CIFAR-10: the best |E| is finite (\"nonideality helps\")", "peak near |E| 3; "
     "best |E| 1-6 at low noise (Fig. 5, Table 3)",
     "imc-train sweep cifar10-cnn --param e_rev=1.1,2.3,3.3,8.4,30.7 --seeds 5", NO_DATA),
    ("6", "6", "ANN and scaled-ANN baselines collapse at small |E| (RC-Spike)", "below |E| ≈ 4 (Fig. 4); App. F",
     "python benchmarks/ann_baseline.py --config digits-mlp --e 1,2,4,10,inf --epochs 5 --out runs/ann-digits "
     "--result docs/results", ""),
    ("6-ttfs", "6 (TTFS)", "ANN and scaled-ANN baselines collapse at small |E| (TTFS)", "below |E| ≈ 10 (Fig. 10); "
     "App. F", "python benchmarks/ann_baseline.py --config digits-ttfs --ann-e 31.6 --e 1.5,2,4,10,inf --epochs 3 "
     "--search-samples 200 --out runs/ann-digits-ttfs --result docs/results", ""),
    ("7", "7", "Circuit extraction", "λ_N 0.41, λ_P 0.75, λ_dis 0.177 /V → E+ 2.80, E- -1.53, E_dis 6.44 "
     "(Table 2)", "imc-extract run --out cell.json && python scripts/paper_claims.py from-cell cell.json", ""),
    ("8", "8", "Post-layout modelling error on Iris (50 test samples, output-layer spike times)", "39.04 ns "
     "top-down vs 1.97 ns bottom-up RMSE, about 20x lower (§3.3, Fig. 7)", "make demo && python "
     "scripts/paper_claims.py from-comparison demo-out/comparison/comparison.json", ""),
    ("8-ladder", "8 (ladder)", "What closes the gap: the modelling error as model terms are added", "(the paper "
     "compares only the two ends, §3.3)", "imc-verify ladder demo-out/iris-bottomup && python "
     "scripts/paper_claims.py from-ladder demo-out/iris-bottomup/verify-ladder/ladder.json", ""),
    ("table3", "Table 3", "Best accuracy over the |E| sweep for each σ", "Table 3 (§5.4): MLP 90.1-90.5 %, |E| = 1 "
     "costs at most about 1 point", "imc-train sweep digits-mlp --param sigma=0,0.01,0.02,0.04 --param "
     "e_rev=1,2,4,100 --seeds 2 --jobs 2 --out runs/digits-grid && python benchmarks/digits_claims.py "
     "runs/digits-grid", ""),
    ("early-spikes", "Fig. 4d", "Larger |E| gives more early spikes", "Fig. 4d (§5.3)",
     "same as Table 3 (benchmarks/digits_claims.py); one run: imc-train eval RUN --stats", ""),
    ("noise", "App. D", "Spike-timing noise: accuracy against σ", "Figs. 11-12, Table 3: σ 0 → 0.04 costs "
     "0.3 (MLP) to 2.4 (CIFAR CNN) points", "same as Table 3 (benchmarks/digits_claims.py)", ""),
]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _status(res: dict | None, blocked: str) -> str:
    if res is None:
        return f"not possible here: {blocked}" if blocked else "not yet measured"
    why = f": {res['why']}" if str(res.get("why", "")).strip() else ""
    return f"**{res['status']}**{why} ({res['date'][:10]})"


def render(results: dict[str, dict]) -> str:
    """The markdown of docs/paper-claims.md."""
    lines = ["# Paper claims against this project's figures", "",
             "Generated by `python scripts/paper_claims.py` from the result files in `docs/results/` (format: "
             "`imcpnn/results.py`); do not edit by hand. Each figure was written by the command in its row, with "
             "the date and conditions in its result file. Claims: `docs/paper.md` §7.1 (1-8) and the sub-claims of "
             "§5.3-5.4.", "",
             "| # | paper claim | paper figure | project figure | command | status |",
             "|---|---|---|---|---|---|"]
    known = set()
    for cid, num, claim, paper, command, blocked in CLAIMS:
        known.add(cid)
        res = results.get(cid)
        fig = res["figure"] if res else "-"
        cmd = res["command"] if res else command
        lines.append(f"| {_cell(num)} | {_cell(claim)} | {_cell(paper)} | {_cell(fig)} | `{_cell(cmd)}` | "
                     f"{_cell(_status(res, blocked))} |")
    for cid, res in sorted(results.items()):
        if cid not in known:
            lines.append(f"| {_cell(cid)} | {_cell(res.get('paper_claim', '?'))} | "
                         f"{_cell(res.get('paper_figure', '?'))} | {_cell(res['figure'])} | `{_cell(res['command'])}` "
                         f"| {_cell(_status(res, ''))} |")
    return "\n".join(lines) + "\n"


#: Table 2's values (docs/paper.md §2.4) against the cell.json fields
PAPER_CELL = {"lambda_n": 0.41, "lambda_p": 0.75, "lambda_dis": 0.177, "e_rev_plus": 2.80, "e_rev_minus": -1.53,
              "e_dis": 6.44}


def from_cell(cell_path: Path, folder: Path) -> Path:
    """Claim 7 from an extraction's cell.json: λ and E against Table 2."""
    cell = load_cell(cell_path)
    ours = {k: float(getattr(cell, k)) for k in PAPER_CELL}
    dev = {k: abs(ours[k] / v - 1) for k, v in PAPER_CELL.items()}
    worst = max(dev, key=dev.get)
    status = "reproduced" if dev[worst] <= 0.10 else "partial" if dev[worst] <= 0.30 else "differs"
    fig = (f"λ_N {ours['lambda_n']:.3f}, λ_P {ours['lambda_p']:.3f}, λ_dis {ours['lambda_dis']:.3f} /V → "
           f"E+ {ours['e_rev_plus']:.2f}, E- {ours['e_rev_minus']:.2f}, E_dis {ours['e_dis']:.2f} "
           f"(V_th {cell.v_th:.3f} V, C_m {cell.c_m * 1e15:.0f} fF)")
    prov = cell.provenance
    return write_result(folder, "7", figure=fig, status=status,
                        why=f"the project's own transistor-level neuron (docs/paper.md §6.3); largest difference "
                        f"{worst} {100 * dev[worst]:.0f} %", command=f"python scripts/paper_claims.py from-cell "
                        f"{cell_path}", conditions={"cell": str(cell_path), "cell_sha256": file_sha256(cell_path),
                                                    "corner": prov.corner, "temperature": prov.temperature,
                                                    "pdk": f"{prov.pdk_source} {prov.pdk_version}",
                                                    "ngspice": prov.ngspice_version, "extracted": prov.timestamp},
                        data={"project": ours, "paper": PAPER_CELL, "relative_difference": dev})


def _side(sides: list[dict], flow: str, where: Path) -> dict:
    found = [s for s in sides if isinstance(s, dict) and str(s.get("label", "")).startswith(flow)]
    if len(found) != 1:
        raise ImcError(f"{where}: expected one side labelled '{flow} ...', found {len(found)}")
    return found[0]


def from_comparison(path: Path, folder: Path) -> Path:
    """Claim 8 from `imc-verify compare`'s comparison.json (bottom-up and top-down sides)."""
    try:
        sides = json.loads(path.read_text())["sides"]
        bu, td = _side(sides, "bottom-up", path), _side(sides, "top-down", path)
        fired, alls = (bu["rmse_ns_fired"], td["rmse_ns_fired"]), (bu["rmse_ns"], td["rmse_ns"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImcError(f"{path}: not a comparison.json of imc-verify compare ({exc!r})") from None
    if None in fired or not min(fired) > 0:
        raise ImcError(f"{path}: a side has no fired-pair RMSE (no spikes), nothing to compare")
    ratio = fired[1] / fired[0]
    status = "reproduced" if ratio >= 10 else "partial" if ratio >= 2 else "differs"
    fig = (f"{fired[0]:.2f} ns bottom-up vs {fired[1]:.1f} ns top-down over fired pairs ({ratio:.1f}x); all pairs "
           f"{alls[0]:.2f} vs {alls[1]:.1f} ns ({alls[1] / alls[0]:.1f}x)")
    return write_result(folder, "8", figure=fig, status=status,
                        why=f"more than an order of magnitude as in the paper; ratio {ratio:.1f}x against the "
                        "paper's 19.8x (own cell design and top-down mapping)" if ratio >= 10 else
                        f"ratio {ratio:.1f}x against the paper's 19.8x",
                        command=f"python scripts/paper_claims.py from-comparison {path}",
                        conditions={"comparison": str(path), "comparison_sha256": file_sha256(path),
                                    "sides": [s.get("dir") for s in (bu, td)]},
                        data={"bottom_up": bu, "top_down": td})


def from_ladder(path: Path, folder: Path) -> Path:
    """Claim 8's qualification from `imc-verify ladder`'s ladder.json: the output layer's error at each level."""
    try:
        d = json.loads(path.read_text())
        rows = [(lv["level"], lv["as_verified"]["layers"][-1]) for lv in d["levels"]]
        first, last = rows[0][1], rows[-1][1]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ImcError(f"{path}: not a ladder.json of imc-verify ladder ({exc!r})") from None
    fig = "; ".join(f"{name} {r['rmse_ns_fired']:.2f}" for name, r in rows if r["rmse_ns_fired"] is not None)
    fig = f"output-layer RMSE over fired pairs (ns): {fig}; all pairs {first['rmse_ns']:.2f} -> {last['rmse_ns']:.2f}"
    # the paper's order-of-magnitude claim rests on its model form; on this circuit that form alone does not carry it
    return write_result(folder, "8-ladder", figure=fig, status="differs",
                        why=f"the paper's own model form (first level) predicts the circuit to {first['rmse_ns']:.2f} "
                            "ns over all pairs, no better than top-down (claim 8's row); the measured threshold, "
                            "kicks and delays make the order of magnitude "
                            f"({d.get('n_samples')} samples, "
                            f"{'global scale fitted per level' if d.get('calibrated') else 'uncalibrated'})",
                        command=f"imc-verify ladder demo-out/iris-bottomup && python scripts/paper_claims.py "
                                f"from-ladder demo-out/iris-bottomup/verify-ladder/ladder.json",
                        conditions={"ladder": str(path), "ladder_sha256": file_sha256(path),
                                    "n_samples": d.get("n_samples"), "calibrated": d.get("calibrated")},
                        data={"levels": [{"level": n, **r} for n, r in rows]})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="render", choices=["render", "from-cell", "from-comparison",
                                                                   "from-ladder"])
    p.add_argument("path", nargs="?", type=Path, help="cell.json (from-cell) or comparison.json (from-comparison)")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "paper-claims.md")
    a = p.parse_args(argv)
    try:
        if a.what != "render":
            if a.path is None:
                raise ImcError(f"{a.what} needs a file argument")
            made = {"from-cell": from_cell, "from-comparison": from_comparison,
                    "from-ladder": from_ladder}[a.what](a.path, a.results)
            print(f"wrote {made}")
        atomic_write_text(a.out, render(read_results(a.results)))
        print(f"wrote {a.out}")
    except ImcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
