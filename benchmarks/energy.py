"""Energy per inference of verifications made with `imc-verify run --energy`, next to a published time-domain figure.

    .venv/bin/python benchmarks/energy.py VERIFY_DIR [VERIFY_DIR ...]

Each directory's summary.json holds the energy measured on its own test transients (verify/energy.py). A directory
verified with --layer-netlist (an extracted layer substituted) is labelled post-layout, the others schematic.

The published figure: 4.74 pJ per inference per neuron, measured on a 90 nm CMOS test chip (IEEE TVLSI 32(5),
pp. 848-859, 2024): a time-to-first-spike SNN whose synapses are an 8-kb SRAM macro computing in memory (current-type
dendrite signals) and whose somas are analog second-order leaky integrate-and-fire circuits; only the output layer is
on the chip; 242 uW at an average inference latency of 196 ns. What differs here: simulation (schematic, or layout
parasitics only), sky130 (130 nm, 1.8 V), 1 us phases (each layer accumulates for 1 us; the chip's whole inference
takes 196 ns), several layers, and every supply counted, including the stimulus and clock drivers (ideal sources
priced as CMOS buffers), which the chip's figure may or may not include.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PUBLISHED = {"label": "90 nm TTFS test chip (TVLSI 2024), measured", "per_neuron_pj": 4.74}


def load(d: Path) -> tuple[str, dict, dict]:
    s = json.loads((d / "summary.json").read_text())
    if not s.get("energy"):
        raise SystemExit(f"error: {d} has no energy figures (verify it with `imc-verify run --energy`)")
    opts = (s.get("inputs") or {}).get("options") or {}
    kind = "post-layout" if opts.get("layer_netlist") or opts.get("post_layout") else "schematic"
    return kind, s, s["energy"]


def pj(x: float) -> str:
    return f"{x * 1e12:.2f}"


def row(name: str, s: dict, e: dict) -> str:
    g = e["groups"]
    per_event = e["synapse_energy_per_event"]
    return (f"| {name} | {s['layer_sizes']} | {s['n_samples']} | {pj(e['per_inference']['mean'])} "
            f"({pj(e['per_inference']['p95'])}) | **{e['per_inference_per_neuron']['mean'] * 1e12:.3f}** | "
            f"{pj(g['synapses']['mean'])} | {pj(g['neurons']['mean'])} | {pj(g['drivers']['mean'])} | "
            f"{pj(g['bias']['mean'])} | {'n/a' if per_event is None else f'{per_event * 1e15:.2f}'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    args = ap.parse_args()
    print("| verification | network | samples | pJ per inference, mean (p95) | pJ per inference per neuron | "
          "synapses | neurons (incl. reset) | drivers (inputs, clocks) | bias | fJ per synaptic event (synapse "
          "supply) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in args.dirs:
        kind, s, e = load(d)
        print(row(f"{kind}: {s['source']} ({s.get('section', '')}, {s['temperature']:g} C)", s, e))
    print(f"| {PUBLISHED['label']} | output layer | | | **{PUBLISHED['per_neuron_pj']:.2f}** | | | | | |")


if __name__ == "__main__":
    main()
