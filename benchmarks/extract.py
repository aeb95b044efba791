"""Benchmark of `imc-extract run`: cold and warm wall time for one corner and for all five, and the number of
ngspice library loads (one per simulated job).  Goal (issue 4): cold one corner < 60 s on 2 cores, warm < 3 s.

    .venv/bin/python benchmarks/extract.py [--jobs N] [--skip-all] [--json out.json]

Each case runs the real CLI in a subprocess with a fresh, private result cache (IMC_CACHE_DIR) for the cold run and
the same cache for the warm run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_cli(args: list[str], cache: Path, out: Path) -> dict:
    env = dict(os.environ, IMC_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "imcpnn.cli.extract", "run", "--out", str(out), "-q", *args], env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"imc-extract run {' '.join(args)} failed: {r.stderr.strip()}")
    m = re.search(r"(\d+) jobs, (\d+) from cache, (\d+) ngspice library loads", r.stderr)
    jobs, hits, loads = (int(x) for x in m.groups()) if m else (None, None, None)
    return {"wall_s": round(wall, 2), "jobs": jobs, "cache_hits": hits, "library_loads": loads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="ngspice workers (default 2, the goal's 2 cores)")
    ap.add_argument("--skip-all", action="store_true", help="only the single-corner case")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    res = {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0], "jobs": a.jobs}
    cases = [("tt", ["--corner", "tt"])] + ([] if a.skip_all else [("all", ["--corner", "all"])])
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in cases:
            cache = Path(tmp) / f"cache_{name}"
            out = Path(tmp) / name / "cell.json"
            args = [*args, "--jobs", str(a.jobs)]
            cold = run_cli(args, cache, out)
            warm = run_cli(args, cache, out)
            res[name] = {"cold": cold, "warm": warm}
            print(f"{name:4s} cold {cold['wall_s']:7.1f} s ({cold['library_loads']} library loads, {cold['jobs']} jobs)"
                  f"   warm {warm['wall_s']:6.2f} s ({warm['cache_hits']} cache hits, "
                  f"{warm['library_loads']} library loads)", flush=True)
    res["load_avg_end"] = os.getloadavg()[0]
    if "tt" in res:
        res["goal_cold_tt_lt_60s"] = res["tt"]["cold"]["wall_s"] < 60
        res["goal_warm_tt_lt_3s"] = res["tt"]["warm"]["wall_s"] < 3
    print(json.dumps(res, indent=2))
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
