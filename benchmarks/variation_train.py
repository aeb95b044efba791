"""Nominal against variation-aware training, both evaluated over the same sampled mismatch (docs/training.md,
"Variation-aware training").

For each seed: CONFIG trained nominally (its variation section removed) and variation-aware at each sigma scale, then
every network evaluated over N sampled instances (`imc-train eval RUN --variation N --seed S` with the variation
section of CONFIG at that scale). In one process, through the Python API, so start-up is paid once. Usage:
    .venv/bin/python benchmarks/variation_train.py --cell cell.json --out DIR [--config iris-variation]
        [--seeds 0,1,2] [--scales 1,2] [--instances 100] [--eval-seed 0] [--measured]
--measured samples the cell's own Monte-Carlo variation section (`imc-extract mc`) instead of CONFIG's sigmas.
Prints a table and writes DIR/variation.json; an existing DIR/variation.json is refused, finished runs are reused.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml

from imcpnn.train import eval_run, run
from imcpnn.train.config import load_config_dict


def _train(cfg: dict, out: Path, cell: str) -> Path:
    if (out / "summary.json").is_file() and json.loads((out / "summary.json").read_text())["status"] == "finished":
        return out
    return run(cfg, out=out, cell=cell, progress=False)[0]


def _eval(rd: Path, var_file: Path, n: int, seed: int) -> dict:
    res = eval_run(rd, variation=n, variation_seed=seed, variation_config=str(var_file))
    return {"nominal": res["test_accuracy"], **{k: res["cells"][0]["variation"][k] for k in ("mean", "p5", "min")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="iris-variation")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--scales", default="1,2")
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--eval-seed", type=int, default=0)
    ap.add_argument("--measured", action="store_true", help="variation: {from_cell: true} instead of CONFIG's")
    a = ap.parse_args()
    out = Path(a.out)
    if (out / "variation.json").exists():
        raise SystemExit(f"{out / 'variation.json'} exists; pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    base, _ = load_config_dict(a.config)
    if a.measured:
        base["variation"] = {"from_cell": True}
    rows = []
    for scale in [float(s) for s in a.scales.split(",")]:
        var = {**base["variation"], "sigma_scale": scale}
        var_file = out / f"variation-x{scale:g}.yaml"
        var_file.write_text(yaml.safe_dump({"variation": var}))
        for seed in [int(s) for s in a.seeds.split(",")]:
            nominal = {k: v for k, v in base.items() if k != "variation"} | {"seed": seed}
            aware = base | {"seed": seed, "variation": var}
            for kind, cfg in (("nominal", nominal), ("variation-aware", aware)):
                rd = _train(cfg, out / (f"{kind}-s{seed}" if kind == "nominal" else f"{kind}-x{scale:g}-s{seed}"),
                            a.cell)
                rows.append({"scale": scale, "seed": seed, "trained": kind, **_eval(rd, var_file, a.instances,
                                                                                    a.eval_seed)})
                print(json.dumps(rows[-1]), flush=True)
    (out / "variation.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| scale | trained | nominal | MC mean | MC p5 | MC min |\n|---:|---|---:|---:|---:|---:|")
    for scale in sorted({r["scale"] for r in rows}):
        for kind in ("nominal", "variation-aware"):
            sel = [r for r in rows if r["scale"] == scale and r["trained"] == kind]
            m = {k: statistics.mean(r[k] for r in sel) for k in ("nominal", "mean", "p5", "min")}
            print(f"| {scale:g} | {kind} | {m['nominal']:.3f} | {m['mean']:.3f} | {m['p5']:.3f} | {m['min']:.3f} |")


if __name__ == "__main__":
    main()
