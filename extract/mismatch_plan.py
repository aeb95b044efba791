"""The seeded jobs of a Monte-Carlo mismatch run (extract/mismatch.py): which blocks, how many instances side by
side per job (netlists/instances.py), in which section, with which seed.

Each job is seeded (spice/jobs.py: `setseed` before the load and every reset, so all analyses of a job see the same
instances); its seed is derived from the user's seed, the block and the chunk, and is part of the cache key.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from imcpnn.cell import KICK_FAN_OUT, CellParams
from imcpnn.errors import ConfigError
from imcpnn.extract.firing import T_INJ, injection_currents
from imcpnn.extract.kicks import BACKGROUND_WEIGHT, KickGates, kick_layer_biases
from imcpnn.extract.plan import N_CURVES, N_GATE, P_GATE_FROM_VDD, TABLE_STEP, vmem_sweep, with_temperature
from imcpnn.laws import interp_in_log
from imcpnn.netlists import CellDesign, network_netlist
from imcpnn.netlists.instances import column_array_tb, discharger_array_tb, sensing_array_tb, synapse_array_tb
from imcpnn.netlists.testbenches import column_tran
from imcpnn.pdk import check_corner
from imcpnn.spice.analyses import Dc, SetParam, fmt
from imcpnn.spice.jobs import SimJob

#: instances per job. DC testbenches side by side: one library load and one sweep for all (10 synapses: 0.5 s in one
#: job, 1.4 s in ten). Transients one per job: side by side every instance's firing edge sets the time step of all
#: (4 columns: 5.7 s of CPU in one job, 4.0 s in four), and the pool runs the jobs in parallel. The kick layer is one
#: network whose test neurons are the instances (half NMOS, half PMOS)
PER_JOB = {"n": 200, "p": 200, "dis": 200, "sense": 200, "column": 1, "kick": KICK_FAN_OUT // 2}
#: gate biases of the sigma(I)/I table per branch, evenly spaced over the cell's bias table
N_SIGMA = 16
#: the blocks simulated, in order ("kick": the kick layer of extract/kicks.py with every test synapse at the kick
#: table's middle weight, half NMOS, half PMOS: each test neuron is one instance; skipped for a cell without kicks)
KINDS = ("n", "p", "dis", "sense", "column", "kick")


@dataclass(frozen=True)
class McJob:
    """One seeded job: ``count`` instances of block ``kind`` (chunk ``chunk``)."""

    kind: str
    chunk: int
    count: int
    job: SimJob
    #: the kick layer's (tests, membrane nodes, spike nodes, the two samples' accumulation windows)
    layout: tuple = ()


def mismatch_corner(cell: CellParams, corner: str | None) -> str:
    """The mismatch section to simulate: the cell's corner + ``_mm`` unless given; another base corner than the
    cell's (whose nominal scale the spreads are expressed in) or a section without per-instance mismatch is refused."""
    base = cell.provenance.corner
    corner = check_corner(corner or f"{base}_mm")
    if not corner.endswith("_mm"):
        raise ConfigError(f"corner {corner} draws no per-instance mismatch; use {base}_mm")
    if corner[:-3] != base:
        raise ConfigError(f"corner {corner} is not the cell's corner {base} + _mm; extract a {corner[:-3]} cell "
                          "first (`imc-extract run --corner ...`)")
    return corner


def job_seed(seed: int, kind: str, chunk: int) -> int:
    """The seed of one job, from the user's seed, the block and the chunk (distinct draws for each)."""
    digest = hashlib.sha256(f"imc-mc/{seed}/{kind}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _gate_grid(cell: CellParams, br: str) -> tuple[float, float]:
    v = cell.bias_tables[br].v_gate
    return min(v), max(v)


def curve_gates(design: CellDesign, br: str) -> tuple[float, float, float]:
    """(first, last, step) of the I(V) curves' gate biases, as extract/plan.py's (N_CURVES evenly spaced)."""
    vd = design.vdd
    lo, hi = N_GATE if br == "n" else (vd - P_GATE_FROM_VDD[0], vd - P_GATE_FROM_VDD[1])
    return lo, hi, (hi - lo) / (N_CURVES - 1)


def _branch_commands(cell: CellParams, design: CellDesign, br: str) -> tuple[str, ...]:
    """The dense gate sweep at V0 over the bias table's range, then the I(V) curves (inner sweep: the membrane)."""
    src = "vgn" if br == "n" else "vgp"
    lo, hi = _gate_grid(cell, br)
    vm = vmem_sweep(design.v0)
    g0, g1, gs = curve_gates(design, br)
    curves = (f"dc vmem {fmt(vm.start)} {fmt(vm.stop)} {fmt(vm.step)} "
              f"{src} {fmt(g0)} {fmt(g1 + gs / 2)} {fmt(gs)}")
    return Dc(src, lo, hi + TABLE_STEP / 2, TABLE_STEP).command(), curves


def _gate_of(cell: CellParams, br: str, w: float) -> float:
    """The gate bias of weight w on branch br: the cell's bias table inverted in log current."""
    t = cell.bias_tables[br]
    order = np.argsort(t.i_v0)
    return round(float(interp_in_log(w * cell.i_unit, np.asarray(t.i_v0)[order], np.asarray(t.v_gate)[order])), 6)


def kick_gates(cell: CellParams) -> dict[str, float]:
    """Per branch, the gate bias of the kick table's middle weight."""
    return {br: _gate_of(cell, br, getattr(cell.kicks, f"{br}_w")[len(getattr(cell.kicks, f"{br}_w")) // 2])
            for br in ("n", "p")}


def _kick_job(cell: CellParams, design: CellDesign, lib: str, n: int) -> tuple[str, tuple, tuple, tuple]:
    """The kick layer with ``n`` NMOS and ``n`` PMOS test neurons, every test at the middle weight; the background
    synapse at the nominal extraction's background weight (extract/kicks.py)."""
    gates = kick_gates(cell)
    layer = KickGates((gates["n"],) * n, (gates["p"],) * n, _gate_of(cell, "n", BACKGROUND_WEIGHT))
    tests, vn, vp, x = kick_layer_biases(layer, design.vdd, cell.design_fan_in)
    nb = network_netlist(design, lib, [(vn, vp)], x, title=f"spike-line kicks, {n} instances per branch")
    mem, spk = tuple(nb.mem_nodes[0]), tuple(nb.spike_nodes[0])
    layout = (tuple(tests), mem, spk, tuple(nb.accum_window(0, s) for s in range(len(x))))
    return nb.text, (nb.tran,), ("time", *mem, *spk), layout


def _job(kind: str, cell: CellParams, design: CellDesign, lib: str, n: int) -> tuple[str, tuple, tuple, tuple]:
    """(netlist, commands, vectors, kick layout) of ``n`` instances of block ``kind``."""
    T = design.t_circ
    if kind == "kick":
        return _kick_job(cell, design, lib, n)
    if kind in ("n", "p"):
        tb = synapse_array_tb(design, lib, kind, n)
        return tb.text, _branch_commands(cell, design, kind), ("v-sweep", *(f"vm{k}#branch" for k in range(n))), ()
    if kind == "dis":
        tb = discharger_array_tb(design, lib, n)
        return tb.text, (vmem_sweep(design.v0).command(),), ("v-sweep", *(f"vm{k}#branch" for k in range(n))), ()
    if kind == "sense":
        tb = sensing_array_tb(design, lib, n)
        return (tb.text, (Dc("vmem", 0, design.v0, 0.002).command(),), ("v-sweep", *(f"sense{k}" for k in range(n))),
                ())
    tb = column_array_tb(design, lib, cell.design_fan_in, n, t_inj=T_INJ * T)
    tran = column_tran(design, 1)
    cmds = tuple(c for i in column_currents(cell) for c in (SetParam("iinj", i), tran))
    return tb.text, cmds, ("time", *(f"mem_{k}" for k in range(n)), *(f"spk_{k}" for k in range(n))), ()


def column_currents(cell: CellParams) -> list[float]:
    """The column's injections: first one for C_eff (about 0.35 V of swing over the accumulation, as
    extract/plan.py's columns), then the firing transients' (extract/firing.py)."""
    i_col = float(f"{0.35 * cell.c_m / (0.85 * cell.t_circ):.3g}")
    return [i_col, *injection_currents(cell.i_unit)]


def plan_mismatch(cell: CellParams, lib: str, n: int, seed: int, kinds: tuple[str, ...] = KINDS) -> list[McJob]:
    """The seeded jobs that simulate ``n`` instances of each block in ``kinds`` (``lib``: the mismatch section's
    .lib line)."""
    if n < 2:
        raise ConfigError(f"need at least 2 instances for a spread (got {n})")
    if not 0 <= seed < 2 ** 31:
        raise ConfigError(f"seed must be in [0, 2**31) (got {seed})")
    design = CellDesign.from_dict(cell.design)
    out = []
    for kind in kinds:
        if kind == "kick" and cell.kicks is None:
            continue  # no kick table: no middle weight to measure at
        per = PER_JOB[kind]
        for chunk in range(math.ceil(n / per)):
            count = min(per, n - chunk * per)
            text, cmds, vecs, layout = _job(kind, cell, design, lib, count)
            job = SimJob(with_temperature(text, cell.temperature), cmds, vecs, label=f"mc:{kind}{chunk}",
                         seed=job_seed(seed, kind, chunk))
            out.append(McJob(kind, chunk, count, job, layout))
    return out
