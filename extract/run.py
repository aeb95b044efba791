"""Run the characterisation of one or several corners: plan -> simulate (parallel, cached) -> fit -> CellParams."""

from __future__ import annotations

import time
from dataclasses import dataclass

from imcpnn import __version__
from imcpnn.cell import CellParams
from imcpnn.extract.characterise import Raw, assemble
from imcpnn.extract.plan import DEFAULT_FAN_IN, Plan, plan
from imcpnn.extract.postlayout import ExtractedCells, plan_hook
from imcpnn.netlists import CellDesign
from imcpnn.pdk import check_corner, find_pdk, lib_line, library_hash
from imcpnn.spice.engine import shared_version_cached
from imcpnn.spice.pool import run_jobs


@dataclass
class RunStats:
    jobs: int
    cache_hits: int
    library_loads: int       # one per job actually simulated (not from the cache)
    sim_seconds: float
    wall_seconds: float


def provenance_base(corner: str) -> dict:
    pdk = find_pdk()
    return {"pdk_source": str(pdk.source), "pdk_version": str(pdk.version),
            "pdk_hash": library_hash(False, corner), "ngspice_version": shared_version_cached(),
            "tool_version": __version__}


def extract_corners(design: CellDesign, corners: list[str], *, temp: float = 27.0, fan_in: int = DEFAULT_FAN_IN,
                    workers: int | None = None, cache=None, progress: bool = True, timeout: float = 600.0,
                    post_layout: ExtractedCells | None = None) -> tuple[dict[str, tuple[CellParams, Raw]], RunStats]:
    """All corners' jobs go into one pool run (so corners proceed in parallel); ``post_layout``: characterise the
    extracted cells instead of the schematic ones (extract/postlayout.py)."""
    t0 = time.perf_counter()
    plans: dict[str, Plan] = {}
    jobs = []
    for c in corners:
        c = check_corner(c)
        plans[c] = plan(design, lib_line(c), temp=temp, fan_in=fan_in,
                        post_layout=plan_hook(post_layout, lib_line(c)))
        jobs += plans[c].jobs
    results = run_jobs(jobs, workers=workers, timeout=timeout, cache=cache, progress=progress,
                       label=f"characterising {','.join(corners)}")
    out: dict[str, tuple[CellParams, Raw]] = {}
    k = 0
    for c, p in plans.items():
        res = results[k:k + len(p.jobs)]
        k += len(p.jobs)
        out[c] = assemble(design, p, res, corner=c, temp=temp, fan_in=fan_in,
                          provenance={**provenance_base(c), "design": design.name,
                                      **({"post_layout": post_layout.provenance} if post_layout else {})})
    hits = sum(1 for r in results if r.from_cache)
    stats = RunStats(jobs=len(results), cache_hits=hits, library_loads=len(results) - hits,
                     sim_seconds=sum(r.seconds for r in results), wall_seconds=time.perf_counter() - t0)
    return out, stats
