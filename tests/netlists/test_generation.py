"""Netlist generation without a simulator: records, validation, determinism, node maps and timing helpers."""

import json

import numpy as np
import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import (CellDesign, Fet, column_tb, default_design, discharger_tb, load_design, network_netlist,
                             sensing_tb, subcircuits, synapse_branch_tb)

LIB = '.lib "/nonexistent/lib.spice" tt'


def _net(design, n_samples=3, seed=1):
    rng = np.random.default_rng(seed)
    b = []
    for n_out, n_in in ((5, 5), (5, 5)):
        vn = np.where(rng.random((n_out, n_in)) < 0.5, rng.uniform(0.45, 0.56, (n_out, n_in)), 0.0)
        vp = np.where(vn == 0, rng.uniform(1.05, 1.25, (n_out, n_in)), design.vdd)
        b.append((vn, vp))
    return network_netlist(design, LIB, b, rng.uniform(0, 1.2, (n_samples, 5)))


def test_deterministic_text():
    d = default_design()
    assert _net(d).text == _net(d).text
    assert subcircuits(d, [(5, 5)]) == subcircuits(default_design(), [(5, 5)])
    for f in (synapse_branch_tb, discharger_tb, sensing_tb):
        assert f(d, LIB).text == f(d, LIB).text
    assert column_tb(d, LIB, 5).text == column_tb(d, LIB, 5).text
    assert _net(d).text != _net(d.derive(v_b_dis=0.55)).text


def test_record_roundtrip(tmp_path):
    d = default_design()
    assert d.name == "sky130-rcspike"
    p = tmp_path / "d.json"
    p.write_text(json.dumps(d.to_dict()))
    assert load_design(p) == d
    y = tmp_path / "d.yaml"
    import yaml

    y.write_text(yaml.safe_dump({**d.to_dict(), "name": "variant", "v_b_dis": 0.55}))
    v = load_design(y)
    assert v.name == "variant" and v.v_b_dis == 0.55 and v.c_m == d.c_m
    assert load_design("sky130-rcspike") == d
    with pytest.raises(ConfigError):
        load_design({"nope": 1})
    with pytest.raises(ConfigError):
        load_design("no-such-design")
    with pytest.raises(ConfigError):
        CellDesign(syn_n_mem=Fet("pfet_01v8", 1, 0.25))
    with pytest.raises(ConfigError):
        Fet("nfet_01v8", 0.1, 0.25)
    with pytest.raises(ConfigError):
        CellDesign(v0=2.5)


def test_bundle_maps_and_windows():
    d = default_design()
    nb = _net(d, n_samples=4)
    T = d.t_circ
    assert nb.spike_nodes[0] == [f"spk_1_{i}" for i in range(5)]
    assert nb.mem_nodes[1][4] == "mem_2_4"
    assert nb.fire_window(0, 0) == pytest.approx((2 * T, 3 * T))
    assert nb.accum_window(1, 0) == pytest.approx(nb.fire_window(0, 0))
    assert nb.fire_window(1, 3) == pytest.approx((12 * T, 13 * T))
    assert nb.t_stop == pytest.approx(13 * T)
    assert nb.tran.startswith("tran ") and f".{nb.tran}" in nb.text
    assert ".control" not in nb.text and nb.text.rstrip().endswith(".end")
    for l in (1, 2):
        for i in range(5):
            for j in range(5):
                assert f"Vn_{l}_{i}_{j} vn_{l}_{i}_{j} 0 DC" in nb.text


def test_bad_inputs():
    d = default_design()
    vn, vp = np.zeros((2, 3)), np.full((2, 3), 1.8)
    with pytest.raises(ConfigError):
        network_netlist(d, LIB, [(vn, vp)], np.zeros((1, 2)))  # n_in mismatch
    with pytest.raises(ConfigError):
        network_netlist(d, LIB, [(vn + 2.0, vp)], np.zeros((1, 3)))  # bias beyond vdd
    with pytest.raises(ConfigError):
        network_netlist(d, LIB, [(vn, vp)], -np.ones((1, 3)))
    with pytest.raises(ConfigError):
        network_netlist(d, "tt", [(vn, vp)], np.zeros((1, 3)))
    # t >= 1 is "no spike": no PWL edges on that input
    nb = network_netlist(d, LIB, [(vn, vp)], np.array([[1.0, 0.5, 3.0]]))
    line0 = next(l for l in nb.text.splitlines() if l.startswith("Vin_0 "))
    assert line0.endswith("PWL(0 0)")


def test_late_input_spikes_keep_picosecond_times():
    """A transient streams samples for tens of microseconds: an input edge there must land where the spike time puts
    it, to well under the 0.1 ns that 6 significant digits gave at 30 us."""
    d = default_design()
    vn, vp = np.full((1, 1), 0.5), np.full((1, 1), d.vdd)
    t_in = 0.123456789  # model units: t_in * t_circ after the sample's accumulation start
    nb = network_netlist(d, LIB, [(vn, vp)], np.array([[1.0]] * 10 + [[t_in]]))
    line = next(l for l in nb.text.splitlines() if l.startswith("Vin_0 "))
    times = [float(x) for x in line[line.index("(") + 1:line.rindex(")")].split()[0::2]]
    start = nb.accum_window(0, 10)[0]
    assert start > 30e-6
    centres = [0.5 * (a + b) for a, b in zip(times[:-1], times[1:])]
    assert min(abs(c - (start + t_in * d.t_circ)) for c in centres) < 1e-12
