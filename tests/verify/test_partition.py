"""Partitioned verification (verify/partition.py, netlists/partition.py): the plan, the netlists' drivers and
fan-out, the memory cap and peak RSS, and the partitioned transients against the whole network in ngspice."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import load_cell
from imcpnn.errors import ConfigError
from imcpnn.netlists import default_design
from imcpnn.netlists.partition import Partition, partition_netlist, replay_pwl
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.mapping import Scales
from imcpnn.verify.partition import check_partition, parse_partition, plan_partitions
from imcpnn.verify.simulate import gate_biases, simulate

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"
LIB = '.lib "/nowhere/sky130.lib.spice" tt'  # text only: the netlist tests below do not simulate


def _network(sizes: list[int], n_samples: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    ws = [rng.uniform(-1, 1, (o, i)) * min(1.0, 2.5 / np.sqrt(i)) for i, o in zip(sizes[:-1], sizes[1:])]
    x = rng.uniform(0.0, 0.8, (n_samples, sizes[0]))
    x[rng.random(x.shape) < 0.15] = 1.0  # some inputs silent
    return ws, x


def test_partition_option_is_parsed_and_planned():
    assert parse_partition("none") == ("none", 0) and parse_partition("neurons:3") == ("neurons", 3)
    for bad in ("neurons:0", "neurons", "rows:2", "neurons:-1", ""):
        with pytest.raises(ConfigError, match="use none, layer or neurons:K"):
            parse_partition(bad)
    with pytest.raises(ConfigError, match="use it with --partition none"):
        check_partition("layer", "pex_layer.spice")
    assert check_partition("none", "pex_layer.spice") == "none"
    plan = plan_partitions([6, 4], "neurons:4")
    assert [[p.neurons for p in layer] for layer in plan] == [[(0, 1, 2), (3, 4, 5)], [(0, 1, 2, 3)]]
    assert [[p.neurons for p in layer] for layer in plan_partitions([6, 4], "layer")] == [[tuple(range(6))],
                                                                                         [tuple(range(4))]]


def test_cli_refuses_a_bad_partition_in_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "imcpnn.cli.verify", "run", "--weights", "w.npz", "--inputs", "x.csv",
                        "--cell", str(CELL), "--partition", "rows:2"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert p.returncode != 0 and p.stderr.startswith("error: --partition 'rows:2'") and p.stderr.count("\n") == 1


def test_replay_keeps_the_edges_and_drops_the_rail_ripple():
    t = np.linspace(0, 10e-9, 2001)
    v = np.where(t < 4e-9, 0.0, np.clip((t - 4e-9) / 0.1e-9, 0, 1) * 1.8) + 1e-3 * np.sin(t * 3e9)
    text = replay_pwl(t, v)
    pts = np.array([float(x) for x in text[4:-1].split()]).reshape(-1, 2)
    assert len(pts) < 40  # the 0.1 ns edge, not the ripple on the rails
    assert np.max(np.abs(np.interp(t, pts[:, 0], pts[:, 1]) - v)) < 0.02
    assert abs(float(text.split()[-2]) - 10e-9) < 1e-21  # 15 significant digits, the last sample kept


def _synapse_gates(text: str) -> dict[str, int]:
    """How many synapses' NMOS selector gates each spike line drives in a netlist: imc_synapse instances, and device
    lines gated by the line (times their multiplicity)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) > 2 and f[0].lower().startswith("x") and f[2].startswith("spk_"):
            m = int(f[-1][2:]) if "sky130_fd_pr__" in line and f[-1].startswith("m=") else 1
            if f[-1] == "imc_synapse" or "sky130_fd_pr__" in line:
                counts[f[2]] = counts.get(f[2], 0) + m
    return counts


@pytest.mark.parametrize("load", ["lumped", "devices"])
def test_partition_lines_carry_their_full_fan_out_and_the_neuron_driver(load):
    cell, design = load_cell(CELL), default_design()
    ws, x = _network([8, 6, 4], 2, seed=0)
    biases, _ = gate_biases(ws, cell, Scales(), clip=True)
    first = partition_netlist(design, LIB, biases, Partition(1, (1, 2)), 2, input_times=x, load=load)
    gates = _synapse_gates(first.text)
    # inputs: both neurons' own synapses and the 4 other neurons' loads; outputs: all 4 synapses of layer 2
    assert all(gates[f"spk_0_{j}"] == 6 for j in range(8)) and gates["spk_1_1"] == gates["spk_1_2"] == 4
    assert first.latch_nodes == {"spk_1_1": ("xl1_n1.q", "xl1_n1.qb"), "spk_1_2": ("xl1_n2.q", "xl1_n2.qb")}
    drivers = [("PWL(0 0 1e-6 0)", "PWL(0 1.8 1e-6 1.8)")] * 6
    second = partition_netlist(design, LIB, biases, Partition(2, (3,)), 2, drivers=drivers, load=load)
    assert all(_synapse_gates(second.text)[f"spk_1_{j}"] == 4 for j in range(6))
    # the line is driven as a neuron drives it: its latch outputs into the neuron's own output inverters
    assert re.search(r"^XBS_1_0 qb_1_0 spk_1_0 vdd imc_inv$", second.text, re.M)
    assert re.search(r"^XBSB_1_0 q_1_0 spkb_1_0 vdd imc_inv$", second.text, re.M)
    # ... the same inverters as in the neuron cell
    assert "XBS qb spk vdd imc_inv" in second.text and "XBSB q spkb vdd imc_inv" in second.text
    with pytest.raises(ConfigError, match="one driver per input"):
        partition_netlist(design, LIB, biases, Partition(2, (0,)), 2, drivers=drivers[:5])


@pytest.mark.spice
def test_worker_memory_is_capped_and_its_peak_reported():
    job = SimJob("* divider\nV1 a 0 DC 1\nR1 a b 1k\nR2 b 0 1k\n.end\n", ("op",), ("b",), "divider")
    ok = run_jobs([job], workers=1, mem_limit_gb=4.0, progress=False)[0]
    assert ok.ok and 10 < ok.peak_rss_mb < 4096
    starved = run_jobs([job], workers=1, mem_limit_gb=0.1, progress=False)[0]
    assert not starved.ok and "memory is capped at 0.1 GB" in str(starved.error)


def _equivalence(sizes, n_samples, seed, spec, **kw):
    """Monolithic and partitioned spike times of the same network. reltol 1e-5: at the design's 1e-4 the step
    control alone moves spike times by ~0.07 ns between two transients of the same circuit (docs/verification.md)."""
    cell = load_cell(CELL)
    design = default_design().derive(reltol=1e-5)
    from imcpnn.pdk import lib_line

    ws, x = kw.pop("network", None) or _network(sizes, n_samples, seed)
    run = dict(chunks=1, workers=2, progress=False, clip=True)
    whole = simulate(ws, x, cell, design, lib_line(), **run)
    parts = simulate(ws, x, cell, design, lib_line(), partition=spec, **run)
    return whole, parts, cell.t_circ * 1e9


def _assert_equal_spikes(whole, parts, t_ns):
    for a, b in zip(whole.times, parts.times):
        assert np.array_equal(a < 1, b < 1)  # the same neurons fire
        assert np.sqrt(np.mean(((a - b) * t_ns) ** 2)) <= 0.05
    assert all(0.0 < (a < 1).mean() for a in whole.times)  # something to compare in every layer


@pytest.mark.spice
@pytest.mark.slow
def test_partitioned_iris_network_equals_the_whole_transient():
    from imcpnn.train.data import iris_split

    _, _, x_test, _ = iris_split(0, as_torch=False)
    rng = np.random.default_rng(7)
    ws = [rng.uniform(-1.2, 1.2, (5, 5)), rng.uniform(-1.2, 1.2, (5, 5))]  # the demo's 5-5-5 Iris network
    whole, parts, t_ns = _equivalence(None, None, None, "neurons:2", network=(ws, np.asarray(x_test[:2], float)))
    _assert_equal_spikes(whole, parts, t_ns)
    assert len(parts.jobs) == 6 and all(j["peak_rss_mb"] > 0 for j in parts.jobs)


@pytest.mark.spice
@pytest.mark.slow
def test_partitioned_fan_in_8_network_equals_the_whole_transient():
    whole, parts, t_ns = _equivalence([8, 6, 4], 2, 3, "neurons:4")
    _assert_equal_spikes(whole, parts, t_ns)


@pytest.mark.spice
@pytest.mark.slow
def test_cli_partitions_on_a_dask_cluster_like_on_the_pool(tmp_path):
    from dask.distributed import LocalCluster

    ws, x = _network([4, 3, 2], 1, seed=5)
    np.savez(tmp_path / "w.npz", l0=ws[0], l1=ws[1])
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    args = [sys.executable, "-m", "imcpnn.cli.verify", "run", "--weights", str(tmp_path / "w.npz"), "--inputs",
            str(tmp_path / "x.csv"), "--cell", str(CELL), "--scale-mode", "none", "--clip", "--no-cache",
            "--partition", "layer", "--chunks", "1", "--worker-mem-gb", "2"]
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="1GB", dashboard_address=None) as cluster:
        too_big = subprocess.run(args + ["--scheduler", cluster.scheduler_address, "--worker-mem-gb", "0.5",
                                         "--out", str(tmp_path / "refused")], capture_output=True, text=True,
                                 timeout=600)
        assert too_big.returncode != 0 and re.search(r"memory_limit 0\.9\d GB, above --worker-mem-gb 0\.5",
                                                     too_big.stderr)
        p = subprocess.run(args + ["--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "v")],
                           capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["partition"] == "layer" and [j["layer"] for j in summary["transients"]] == [1, 2]
    assert all(j["peak_rss_mb"] > 0 for j in summary["transients"]) and summary["worker_mem_gb"] == 2
    rows = list(csv.DictReader((tmp_path / "v" / "spike_times.csv").open()))
    pool = simulate(ws, x, load_cell(CELL), default_design(), _lib(), chunks=1, workers=1, progress=False,
                    clip=True, partition="layer")
    got = [np.array([[float(r["t_spice"]) for r in rows if r["layer"] == str(l + 1)]]) for l in range(2)]
    for a, b in zip(got, pool.times):
        assert np.allclose(a, b, atol=2e-6)  # the same transients, to the CSV's 6 decimals
    assert sorted(p.name for p in (tmp_path / "v" / "netlists").iterdir()) == [
        "pdk.spice", "test_samples_000-000_layer1_n0-2.cir", "test_samples_000-000_layer2_n0-1.cir"]


def _lib() -> str:
    from imcpnn.pdk import lib_line

    return lib_line()
