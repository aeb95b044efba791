"""The flat device form (CellDesign.device_form = "flat", imcpnn.pdk.flat) against the sky130 wrapper subcircuits:
the same DC currents on every characterisation testbench, the same spike times on a network transient, mismatch
still drawn per device, the `mc` section refused; all through the project's engine (libngspice)."""

import numpy as np
import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import column_tb, discharger_tb, network_netlist, sensing_tb, synapse_branch_tb
from imcpnn.pdk import lib_line as pdk_lib_line
from imcpnn.spice.analyses import Op
from imcpnn.spice.jobs import SimJob, execute
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.readout import layer_spike_times

from netlists_helpers import random_biases, run_ngspice

pytestmark = pytest.mark.spice

TESTBENCHES = {
    "synapse n": lambda d, lib: synapse_branch_tb(d, lib, "n"),
    "synapse p": lambda d, lib: synapse_branch_tb(d, lib, "p"),
    "discharger": discharger_tb,
    "sensing": sensing_tb,
    "column (op)": lambda d, lib: column_tb(d, lib, 2),
}


def _both(design, make, lib_line, analysis=None):
    """{form: plot} of one testbench's analysis in both device forms."""
    out = {}
    for form in ("subckt", "flat"):
        tb = make(design.derive(device_form=form), lib_line)
        out[form] = execute(SimJob(tb.text, (analysis or tb.analysis,))).unwrap()[0]
    return out


@pytest.mark.parametrize("name", list(TESTBENCHES))
def test_dc_currents_equal(design, lib_line, name):
    """Every source current and node voltage of the testbench's DC analysis (an op for the transient column) agrees
    to 1e-6 relative; the absolute floors sit far below ngspice's own tolerances (abstol 1 pA, vntol 1 uV)."""
    r = _both(design, TESTBENCHES[name], lib_line, Op() if name.startswith("column") else None)
    # device-internal vectors (m.<path>#body) are named after the wrapper's element, so only circuit vectors compare
    keys = sorted(k for k in r["subckt"] if not k.startswith("m."))
    assert keys == sorted(k for k in r["flat"] if not k.startswith("m."))
    currents = [k for k in keys if k.endswith("#branch")]
    assert currents
    for k in keys:
        atol = 1e-15 if k in currents else 1e-9
        np.testing.assert_allclose(r["flat"][k], r["subckt"][k], rtol=1e-6, atol=atol, err_msg=f"{name}: {k}")


@pytest.mark.slow
@pytest.mark.heavy  # minutes of SPICE: CI runs it in make test-heavy
def test_network_spike_times_equal(design, lib_line):
    """A 5-5-5 network streaming 3 samples: the same spikes, within 0.01 ns, in both device forms.

    Run at tightened tolerances (reltol 1e-5, chgtol 1e-16): with the same equations the two forms still reach the
    solution by different roundoff (other matrix order), which at the design's own tolerances picks other time steps
    and moves spike times by up to ~0.09 ns, the size of the integration error itself (measured 2026-11-29: 0.087 ns
    at the design's options, 0.003 ns here, 0.0001 ns at reltol 1e-6, chgtol 1e-17, gear)."""
    rng = np.random.default_rng(11)
    biases = random_biases(rng, design, [(5, 5), (5, 5)])
    x = rng.uniform(0.0, 1.1, (3, 5))
    times = {}
    for form in ("subckt", "flat"):
        nb = network_netlist(design.derive(device_form=form, reltol=1e-5, chgtol=1e-16), lib_line, biases, x)
        nodes = [n for layer in nb.spike_nodes for n in layer]
        plot = execute(SimJob(nb.text, (nb.tran,), ("time", *nodes))).unwrap()[0]
        times[form] = np.stack([layer_spike_times(plot.time, plot, nb.spike_nodes[l],
                                                  [nb.fire_window(l, s) for s in range(nb.n_samples)],
                                                  nb.vdd / 2, nb.t_circ) for l in range(nb.n_layers)])
    fired = times["subckt"] < 1
    assert fired.sum() >= 8  # enough spikes to compare
    np.testing.assert_array_equal(times["flat"] < 1, fired)
    diff_ns = np.abs(times["flat"] - times["subckt"]) * design.t_circ * 1e9
    assert diff_ns.max() <= 0.01, f"spike times differ by up to {diff_ns.max():.4f} ns"


def _mismatch_job(design, lib_line: str, form: str, n: int = 60, seed: int | None = None) -> SimJob:
    """n identical synapse NMOS branches in a mismatch section, each with its own membrane source; `seed` as
    `imc-verify grid --mc` writes it (`.options seed`)."""
    d = design.derive(device_form=form)
    tb = synapse_branch_tb(d, lib_line, "n")
    head, tail = tb.text.split("XSYN ", 1)
    lines = [head.rstrip("\n")] + ([f".options seed={seed}"] if seed is not None else [])
    for k in range(n):  # n copies of the synapse, each with its own membrane source
        lines += [f"Vmem{k} mem{k} 0 DC {d.v0}", f"XSYN{k} mem{k} spk spkb vgn vgp vdd imc_synapse"]
    return SimJob("\n".join(lines) + "\n.end\n", (Op(),), label=f"{form} seed {seed}")


def _branch_currents(plot, n: int = 60) -> np.ndarray:
    return np.array([-plot[f"vmem{k}#branch"][0] for k in range(n)])


def _mismatch_spread(design, lib_line: str, form: str, n: int = 60) -> np.ndarray:
    """Drain currents of n identical synapse NMOS branches in the tt_mm (mismatch) section."""
    return _branch_currents(execute(_mismatch_job(design, lib_line, form, n)).unwrap()[0], n)


def test_mismatch_kept_per_device(design, lib_line):
    """In a mismatch section every flat device draws its own threshold shift, with the wrapper's spread: the
    relative standard deviation of 60 identical branches agrees between the forms within sampling error."""
    lib = pdk_lib_line("tt_mm")
    spread = {}
    for form in ("subckt", "flat"):
        i = _mismatch_spread(design, lib, form)
        assert len(np.unique(np.round(i, 15))) == len(i)  # every branch differs
        spread[form] = i.std() / i.mean()
    assert spread["subckt"] > 0.01
    assert 0.6 < spread["flat"] / spread["subckt"] < 1.6, spread


def test_flat_mismatch_is_seeded_and_reproducible(design):
    """A Monte-Carlo instance in the flat form is one circuit wherever it runs: the same seed in two worker
    processes draws the same currents exactly, another seed others. (A seed does not draw the same values as in the
    wrapper form: other random calls in another order; the spread is the same, benchmarks/flat_mismatch.py.)"""
    lib = pdk_lib_line("tt_mm")
    jobs = [_mismatch_job(design, lib, "flat", seed=s) for s in (5, 5, 6)]
    a, b, c = (_branch_currents(r.unwrap()[0]) for r in run_jobs(jobs, workers=2, cache=None, progress=False))
    assert len(np.unique(np.round(a, 15))) == len(a)  # every branch its own draw
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() / a.mean() > 0.01


def test_mc_section_refused(design, lib_line):
    with pytest.raises(ConfigError, match="mc"):
        discharger_tb(design.derive(device_form="flat"), pdk_lib_line("mc"))


def test_layer_beyond_subckt_port_limit_runs(design, lib_line):
    """A 22x22 layer has more ports (1085) than ngspice's subcircuit port table holds (it exits with 'N_GLOBAL_NODES
    overflow'): the network writes that layer's synapses and neurons at top level instead, and it simulates."""
    n = 22
    vn, vp = np.full((n, n), 0.5), np.full((n, n), design.vdd)
    nb = network_netlist(design.derive(device_form="flat"), lib_line, [(vn, vp)], np.full((1, n), 0.5))
    assert "imc_layer_22x22" not in nb.text and "XL1_S21_21 mem_1_21 spk_0_21 " in nb.text
    a, log = run_ngspice(nb.text, ["op"], ["v(mem_1_0)", "v(spk_1_21)"])
    assert "overflow" not in log and a.shape == (1, 3)
