"""Monte-Carlo mismatch (extract/mismatch.py) on the real circuit: the instance testbenches reproduce the
single-instance ones, draws are seeded, and the branch-current spread in sub-threshold matches what the PDK's own
threshold-mismatch coefficient predicts."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import BiasTable, load_cell
from imcpnn.extract.mismatch import McRaw, measure_mismatch
from imcpnn.extract.mismatch_plan import plan_mismatch
from imcpnn.extract.fit import crossing
from imcpnn.netlists import CellDesign, discharger_tb, sensing_tb, synapse_branch_tb
from imcpnn.pdk import lib_line
from imcpnn.pdk.flat import lib_file, wrappers
from imcpnn.pdk.wrapper import substitute
from imcpnn.spice.analyses import Current, Dc
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs

pytestmark = pytest.mark.spice

FIXTURE = Path(__file__).parents[1] / "fixtures" / "cell_paper.json"
#: instances for the sub-threshold check: the sample std's relative standard error is 1/sqrt(2 (N - 1)) = 7.1 %
N_SUB = 100
#: thermal voltage at 27 C (V)
U_T = 1.380649e-23 * 300.15 / 1.602176634e-19


@pytest.fixture(scope="module")
def cell():
    return load_cell(FIXTURE)


def _raw(cell, corner: str, n: int, seed: int, kinds: tuple[str, ...]) -> McRaw:
    jobs = plan_mismatch(cell, lib_line(corner), n, seed, kinds)
    return measure_mismatch(cell, jobs, run_jobs([j.job for j in jobs], inline=True, progress=False))


def test_instances_without_mismatch_equal_the_single_testbench(cell):
    """At tt (no mismatch section) every copy equals the others and the single-instance testbench (synapse branch
    current, discharger current, V_switch): the arrays' wiring and current signs are the single testbenches'."""
    raw = _raw(cell, "tt", 3, 0, ("n", "p", "dis", "sense"))
    design = CellDesign.from_dict(cell.design)
    for key in ("lambda_n", "lambda_p", "lambda_dis", "i_dis", "v_switch"):
        assert np.ptp(raw.samples[key]) <= 1e-6 * abs(np.mean(raw.samples[key])), key
    sense = sensing_tb(design, lib_line("tt"))
    (res,) = run_jobs([SimJob(sense.text, (Dc("vmem", 0, design.v0, 0.002),), ("v-sweep", "sense"))], inline=True,
                      progress=False)
    pl = res.plots[0]
    assert raw.samples["v_switch"][0] == pytest.approx(crossing(pl.sweep, pl.voltage("sense"), design.vdd / 2, "x"),
                                                       abs=1e-6)
    dis = discharger_tb(design, lib_line("tt"))
    (res,) = run_jobs([SimJob(dis.text, (Dc("vmem", 0.3, 1.4, 0.05),), ("v-sweep", Current("vmem")))], inline=True,
                      progress=False)
    pl = res.plots[0]
    assert raw.samples["i_dis"][0] == pytest.approx(float(np.interp(cell.v0, pl.sweep, dis.sign * pl.current("vmem"))),
                                                    rel=1e-6)
    for br in ("n", "p"):
        vg, cur = raw.currents[br]
        np.testing.assert_allclose(cur, np.broadcast_to(cur[0], cur.shape), rtol=1e-6)  # solver tolerance
        tb = synapse_branch_tb(design, lib_line("tt"), br)
        src = "vgn" if br == "n" else "vgp"
        job = SimJob(tb.text, (Dc(src, float(vg[0]), float(vg[-1]) + 0.0025, 0.005),), ("v-sweep", Current("vmem")))
        (res,) = run_jobs([job], inline=True, progress=False)
        single = tb.sign * res.plots[0].current("vmem")
        np.testing.assert_allclose(cur[0], single, rtol=1e-6)
        assert np.all(cur[0] > 0)


def test_same_seed_same_instances_other_seed_others(cell):
    a = _raw(cell, "tt_mm", 4, 5, ("n", "sense"))
    b = _raw(cell, "tt_mm", 4, 5, ("n", "sense"))
    c = _raw(cell, "tt_mm", 4, 6, ("n", "sense"))
    assert a.samples == b.samples
    np.testing.assert_array_equal(a.currents["n"][1], b.currents["n"][1])
    for key in ("lambda_n", "v_switch"):
        assert np.std(a.samples[key]) > 0
        assert all(x != y for x, y in zip(a.samples[key], c.samples[key]))


def _coefficient(name: str, lib: str) -> float:
    """A mismatch coefficient as the installed model library defines it (the section's file and its includes)."""
    root = lib_file(lib)
    texts = [root.read_text()]
    # includes are absolute or relative to the library file (a fresh install writes them relative)
    texts += [(root.parent / p).read_text() for p in re.findall(r'(?im)^\.include\s+"([^"]+)"', texts[0])]
    for text in texts:
        m = re.search(rf"(?im)^\+?\s*{re.escape(name)}\s*=\s*([-+0-9.eE]+)", text)
        if m:
            return float(m.group(1))
    raise AssertionError(f"{name} not found in the model library")


def vt_sigma(flavour: str, w: float, l: float, corner: str = "tt_mm") -> float:
    """sigma of the threshold shift (delvto, V) one device draws: the wrapper's delvto expression with its AGAUSS
    draw at 1 minus at 0 (the expression is linear in it), the coefficient read from the library, W and L in um."""
    lib = lib_line(corner)
    wr = wrappers(lib)[f"sky130_fd_pr__{flavour}"]
    expr = wr.element_params["delvto"]
    expr = substitute(expr, {k: v for k, v in wr.params.items() if k == "swx_vth"})
    expr = re.sub(r"(?i)agauss\s*\([^()]*\)", "g_draw", expr)
    coeff = f"sw_mm_vth0_sky130_fd_pr__{flavour}"
    env = {"l": l, "w": w, "mult": 1.0, "mismatch_factor": 1.0, "mc_mm_switch": 1.0, coeff: _coefficient(coeff, lib)}

    def value(g: float) -> float:
        names = {n.lower() for n in re.findall(r"[A-Za-z_]\w*", expr)} - {"sqrt"}
        vals = {n: repr(env.get(n, g if n == "g_draw" else 0.0)) for n in names}  # corner shifts cancel: 0
        text = substitute(expr, vals)
        assert re.fullmatch(r"[-+*/()0-9.eE\s]*(sqrt[-+*/()0-9.eE\s]*)*", text), text
        return eval(text, {"__builtins__": {}, "sqrt": math.sqrt})  # noqa: S307  (numbers and sqrt only, checked)

    return value(1.0) - value(0.0)


def test_vt_sigma_reads_the_wrapper_expression():
    # nfet_01v8 scales the draw with the wrapper's geometry factors, pfet_01v8 does not (its term is outside them)
    assert vt_sigma("nfet_01v8", 1.0, 0.25) == pytest.approx(3.356e-3 / 0.5 * 1.248 * 1.21 * 1.224, rel=1e-3)
    assert vt_sigma("pfet_01v8", 1.0, 0.25) == pytest.approx(5.856e-3 / 0.5, rel=1e-9)


def test_subthreshold_current_spread_matches_the_pdk_coefficient(cell):
    """In sub-threshold I ~ exp((V_G - V_T) / (n U_T)), so std(ln I) = sigma_VT / (n U_T) for the memory transistor
    (the selector is fully on and carries nA: its own draw moves nothing). n U_T is measured on the instances' mean
    curve (d V_G / d ln I), n must lie in the slope factor's plausible range [1.1, 1.7]. Tolerance: 3 standard
    errors of a sample std of N_SUB instances (3 x 7.1 %) plus 10 % for the first-order model (a single nfet_01v8 of
    the same size measured 5 % above it at N = 400)."""
    vdd = cell.vdd
    deep = {br: BiasTable(v_gate=g, i_v0=[1e-10, 1e-9], **{"lambda": [0.4, 0.4]})   # gate grid: 0.1 to 1 nA
            for br, g in (("n", [0.30, 0.40]), ("p", [vdd - 0.30, vdd - 0.40]))}
    raw = _raw(cell.model_copy(update={"bias_tables": deep}), "tt_mm", N_SUB, 0, ("n", "p"))
    design = CellDesign.from_dict(cell.design)
    tol = 3 / math.sqrt(2 * (N_SUB - 1)) + 0.10
    for br, fet in (("n", design.syn_n_mem), ("p", design.syn_p_mem)):
        vg, cur = raw.currents[br]
        k = int(np.argmin(cur.mean(axis=0)))            # the lowest current: deepest sub-threshold
        ln = np.log(cur)
        n_ut = 1.0 / abs(np.gradient(ln.mean(axis=0), vg)[k])
        assert 1.1 < n_ut / U_T < 1.7, (br, n_ut / U_T)
        expected = vt_sigma(fet.flavour, fet.w, fet.l) / n_ut
        measured = float(ln[:, k].std(ddof=1))
        assert measured == pytest.approx(expected, rel=tol), (br, measured, expected)
