"""Energy reporting's netlist option and its one-line refusals (no simulation needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design, network_netlist
from imcpnn.netlists.cells import layer_ports
from imcpnn.verify.energy import layer_sources, supply_vectors
from imcpnn.verify.postlayout import substitute_layer

LIB = '.lib "/nonexistent/models.lib" tt'


def _bundle(split: bool, n_in: int = 3, n_out: int = 2):
    d = default_design()
    return network_netlist(d, LIB, [(np.full((n_out, n_in), 0.5), np.full((n_out, n_in), d.vdd))],
                           np.array([[0.1, 0.5, 1.0][:n_in] + [0.2] * max(0, n_in - 3)]), split_supply=split)


def test_split_supply_feeds_synapses_and_neurons_apart():
    plain, split = _bundle(False), _bundle(True)
    assert "vdd_syn" not in plain.text and "vdds_1" not in plain.text
    sub = next(l for l in split.text.splitlines() if l.startswith(".subckt imc_layer_3x2"))
    assert sub.split()[2:] == layer_ports(3, 2, True)
    syn = [l for l in split.text.splitlines() if l.startswith("X") and l.endswith(" imc_synapse")]
    assert len(syn) == 6 and all(l.split()[6] == "vdd_syn" for l in syn)  # synapse instances on their own supply port
    assert split.t_stop == pytest.approx(plain.t_stop + plain.t_circ)  # the last layer's final reset
    assert "vdds_1#branch" in supply_vectors(split) and "vn_1_0_0#branch" in supply_vectors(split)
    with pytest.raises(ConfigError, match="split-supply"):
        supply_vectors(plain)


def test_a_layer_too_big_for_a_subckt_splits_too():
    b = _bundle(True, n_in=25, n_out=25)
    assert ".subckt imc_layer_25x25" not in b.text
    syn = [l for l in b.text.splitlines() if l.startswith("XL1_S")]
    assert len(syn) == 625 and all(l.split()[6] == "vdds_1" for l in syn)
    assert layer_sources(b, 1)["synapse"] == ["vdds_1"]
    assert "vn_1_24_24" in layer_sources(b, 1)["bias"]
    # 2 x 1125 gate-bias sources: their currents (gate coupling only) are not read back, the neurons' biases are
    big = _bundle(True, n_in=45, n_out=25)
    assert layer_sources(big, 1)["bias"] == ["vbdis_1", "vbsense_1"]


def test_an_extracted_layer_must_bring_out_the_synapse_supply(tmp_path):
    f = tmp_path / "pex.spice"
    f.write_text(".subckt pex " + " ".join(reversed(layer_ports(3, 2, True))) + "\nC1 mem_0 0 1f\n.ends pex\n")
    assert "C1 mem_0 0 1f" in substitute_layer(_bundle(True).text, f)
    f.write_text(".subckt pex " + " ".join(layer_ports(3, 2)) + "\n.ends pex\n")
    with pytest.raises(ConfigError, match=r"missing ports \['vdd_syn'\]"):
        substitute_layer(_bundle(True).text, f)


def test_energy_refuses_partitions_and_monte_carlo(tmp_path):
    np.savez(tmp_path / "w.npz", l0=np.zeros((2, 2)))
    np.savetxt(tmp_path / "x.csv", np.full((2, 2), 0.5), delimiter=",")
    base = [sys.executable, "-m", "imcpnn.cli.verify", "run", "--weights", str(tmp_path / "w.npz"), "--inputs",
            str(tmp_path / "x.csv"), "--cell", "tests/fixtures/cell_paper.json", "--energy"]
    for extra, msg in ((["--partition", "layer"], "--partition none"), (["--mc", "2"], "drop --mc")):
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and msg in p.stderr and p.stderr.count("\n") == 1, p.stderr


@pytest.mark.spice
def test_energy_run_writes_its_figures(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", l0=rng.uniform(-0.8, 1.2, (3, 4)), l1=rng.uniform(-0.8, 1.2, (2, 3)))
    np.savetxt(tmp_path / "x.csv", rng.uniform(0, 0.8, (3, 4)), delimiter=",")
    out = tmp_path / "v"
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "run", "--weights", str(tmp_path / "w.npz"),
                        "--inputs", str(tmp_path / "x.csv"), "--cell", "tests/fixtures/cell_paper.json",
                        "--scale-mode", "none", "--clip", "--chunks", "1", "--energy", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "energy per inference" in p.stdout
    e = json.loads((out / "summary.json").read_text())["energy"]
    assert "## Energy" in (out / "report.md").read_text()
    per = np.array(e["per_sample"])
    assert per.shape == (3,) and per.min() > 0
    assert e["per_inference"]["mean"] == pytest.approx(sum(v["mean"] for v in e["domains"].values()), rel=1e-9)
    assert e["per_inference"]["mean"] == pytest.approx(sum(v["mean"] for v in e["groups"].values()), rel=1e-9)
    assert e["per_inference_per_neuron"]["mean"] == pytest.approx(e["per_inference"]["mean"] / 5, rel=1e-9)
    assert e["synaptic_events"]["mean"] > 0 and e["synapse_energy_per_event"] is not None
