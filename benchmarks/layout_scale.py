"""Benchmark of per-cell post-layout layers (`imc-layout extract NxM --per-cell`): wall time per stage and the
command's wall and CPU time, side by side for several layer sizes.  Goal (issue 16): the digits hidden layer
(64x128) drawn, LVS-checked and extracted in <= 5 min wall on 2 cores.

    .venv/bin/python benchmarks/layout_scale.py [--sizes 5x5 16x16 64x128] [--cold] [--flat 5x5 16x16]

Each size runs the real CLI in a subprocess.  Stages (the command's own report): draw (layout, GDS and the
hierarchical LVS schematic), LVS (KLayout, cell by cell), extract (klayout-pex on the synapse and the neuron; 0 when
cached).  LVS runs while the leaves are extracted, so the stages overlap and do not add up to the wall time.
--cold: each size with a fresh, private extraction cache (IMC_PEX_DIR), so the two leaves are extracted too;
otherwise the user's cache.  --flat SIZE...: also the LVS of those sizes against the flat schematic (the previous
method, for comparison; 64x128 takes over 10 minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imcpnn.layout import cells, flow
from imcpnn.layout.lvs import run_lvs
from imcpnn.netlists import default_design

STAGES = re.compile(r"drawn ([\d.]+) s, LVS clean ([\d.]+) s, extracted ([\d.]+) s; ([\d.]+) s wall, ([\d.]+) s CPU")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def per_cell(size: str, work: Path, cold: bool) -> dict:
    env = dict(os.environ)
    if cold:
        env["IMC_PEX_DIR"] = str(work / f"pex-{size}")
    cmd = [sys.executable, "-m", "imcpnn.cli.layout", "extract", size, "--per-cell", "-o", str(work / f"{size}.spice")]
    t0, c0 = time.perf_counter(), children_cpu()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    m = STAGES.search(r.stdout)
    if r.returncode != 0 or m is None:
        raise SystemExit(f"imc-layout extract {size} --per-cell failed: {(r.stderr or r.stdout).strip()[-500:]}")
    draw, lvs, extract, _, _ = (float(x) for x in m.groups())
    return {"draw": draw, "lvs": lvs, "extract": extract, "wall": wall, "cpu": cpu}


def flat_lvs(size: str, work: Path) -> float:
    """Wall seconds of the layer's LVS against the flat schematic."""
    d = default_design()
    n_in, n_out = (int(x) for x in size.split("x"))
    name = f"imc_layer_{n_in}x{n_out}"
    layout, _ = flow.draw(d, name)
    root = work / f"flat-{size}"
    root.mkdir()
    (root / f"{name}.gds").write_bytes(flow.gds_bytes(layout))
    (root / f"{name}.cdl").write_text(cells.schematic(name, d))
    r = run_lvs(root / f"{name}.gds", root / f"{name}.cdl", root, os.cpu_count() or 1)
    if not r.match:
        raise SystemExit(f"flat LVS of {size} does not match ({r.log})")
    return r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["5x5", "16x16", "64x128"])
    ap.add_argument("--cold", action="store_true", help="a fresh extraction cache per size (leaves extracted)")
    ap.add_argument("--flat", nargs="*", default=[], help="sizes to LVS against the flat schematic as well")
    args = ap.parse_args()
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    print("| layer | synapses | draw (s) | LVS (s) | extract (s) | command wall (s) | command CPU (s) | "
          "flat-schematic LVS (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            n_in, n_out = (int(x) for x in size.split("x"))
            r = per_cell(size, Path(tmp), args.cold)
            flat = f"{flat_lvs(size, Path(tmp)):.1f}" if size in args.flat else ""
            print(f"| {size} | {n_in * n_out} | {r['draw']:.1f} | {r['lvs']:.1f} | {r['extract']:.1f} | "
                  f"{r['wall']:.1f} | {r['cpu']:.1f} | {flat} |", flush=True)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
