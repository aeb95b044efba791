"""Export a network to netlists and simulate it in ngspice (through the spice/ job runner)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.cell import CellParams
from imcpnn.netlists import CellDesign
from imcpnn.netlists.network import NetlistBundle, network_netlist
from imcpnn.spice.cache import ResultCache
from imcpnn.spice.errors import SpiceError
from imcpnn.spice.jobs import SimJob
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.energy import supply_vectors
from imcpnn.verify.mapping import BiasMapper, Scales
from imcpnn.verify.partition import check_partition, job_record, simulate_partitioned
from imcpnn.verify.postlayout import substitute_layers
from imcpnn.verify.program import Programmed
from imcpnn.verify.readout import layer_spike_times


@dataclass
class CircuitResult:
    times: list[np.ndarray]  # per layer (n_samples, n_out), model units
    bundles: list[NetlistBundle]
    chunks: list[tuple[int, int]]  # sample ranges [a, b) of each bundle
    waves: list[dict[str, np.ndarray]] = field(default_factory=list)  # per chunk: 'time', spike and membrane nodes
    n_clipped: int = 0
    files: list[tuple[str, NetlistBundle]] = field(default_factory=list)  # partitioned: (file stem, netlist) each
    jobs: list[dict] = field(default_factory=list)  # per transient: samples, partition, seconds, peak RSS

    def netlist_files(self) -> list[tuple[str, NetlistBundle]]:
        """(file stem, netlist) of every transient simulated."""
        return self.files or [(f"test_samples_{a:03d}-{e - 1:03d}", b) for b, (a, e) in zip(self.bundles, self.chunks)]


def check_network(weights: list[np.ndarray], inputs: np.ndarray) -> None:
    if not weights:
        raise ConfigError("no layers to verify")
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ConfigError(f"input spike times must be a 2-D (samples, inputs) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ConfigError("input spike times must lie in [0, 1] (1 = no spike)")
    n = x.shape[1]
    for l, w in enumerate(weights):
        if w.ndim != 2 or w.shape[1] != n:
            raise ConfigError(f"layer {l + 1} weights have shape {tuple(w.shape)} but the layer before has {n} "
                              f"outputs: the network does not match its inputs")
        n = w.shape[0]


def gate_biases(weights: list[np.ndarray], cell: CellParams, scales: Scales,
                clip: bool) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Per layer the (vn, vp) gate voltages of the weights, and how many weights were clipped."""
    mapper = BiasMapper(cell)
    biases, n_clipped = [], 0
    for w in weights:
        vn, vp, k = mapper.biases(np.asarray(w, float), scales, clip=clip)
        biases.append((vn, vp))
        n_clipped += k
    return biases, n_clipped


def sample_ranges(n: int, chunks: int) -> list[tuple[int, int]]:
    """[a, b) sample ranges of ``chunks`` near-equal chunks of n samples."""
    edges = np.linspace(0, n, max(1, min(chunks, n)) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def build_bundles(weights: list[np.ndarray], inputs: np.ndarray, cell: CellParams, design: CellDesign, lib_line: str,
                  scales: Scales, *, clip: bool = False, chunks: int = 1, wire_cap: float = 0.0,
                  layer_netlist: str | list[str] | None = None, temp: float | None = None, seed: int | None = None,
                  energy: bool = False,
                  programmed: Programmed | None = None) -> tuple[list[NetlistBundle], list[tuple[int, int]], int]:
    """Netlists of the network per chunk of samples, at ``temp`` (C; default the cell's extraction temperature),
    with ngspice's random ``seed`` (one Monte-Carlo instance in every chunk); ``layer_netlist``: extracted layer
    file(s) substituted (verify/postlayout.py); ``energy``: split supplies (verify/energy.py); ``programmed``: the
    biases an instance was written with (verify/program.py) instead of the weights' mapped ones."""
    check_network(weights, inputs)
    biases, n_clipped = gate_biases(weights, cell, scales, clip)
    if programmed is not None:
        check_program_layers(layer_netlist)
        biases = programmed.gates
    ranges = sample_ranges(len(inputs), chunks)
    bundles = []
    for a, b in ranges:
        bundle = network_netlist(design, lib_line, biases, inputs[a:b], wire_cap=wire_cap,
                                 title=f"samples {a}..{b - 1}", temp=cell.temperature if temp is None else temp,
                                 seed=seed, split_supply=energy,
                                 neuron_biases=None if programmed is None else programmed.neurons)
        if layer_netlist is not None:
            bundle.text = substitute_layers(bundle.text, layer_netlist)
        bundles.append(bundle)
    return bundles, ranges, n_clipped


def simulate(weights: list[np.ndarray], inputs: np.ndarray, cell: CellParams, design: CellDesign, lib_line: str,
             scales: Scales = Scales(), *, clip: bool = False, chunks: int = 2, workers: int | None = None,
             cache: ResultCache | None = None, keep_waves: bool = False, wire_cap: float = 0.0,
             layer_netlist: str | None = None, progress: bool = True, timeout: float = 900.0,
             temp: float | None = None, partition: str = "none", scheduler: str | None = None,
             mem_limit_gb: float | None = None, fanout_load: str = "lumped", seed: int | None = None,
             energy: bool = False, programmed: Programmed | None = None) -> CircuitResult:
    """Simulate `inputs` (samples, n_in) through the network; samples are split into `chunks` transients run in
    parallel (each chunk streams its samples, a new one every 3 phases). `partition` (verify/partition.py): 'none'
    (the whole network per chunk), 'layer' or 'neurons:K'. `scheduler`: a dask.distributed address; `mem_limit_gb`:
    the most memory a worker may use; `fanout_load`: how a partition models the fan-out outside it ('lumped' or
    'devices', netlists/partition.py); `seed`: ngspice's random seed, one Monte-Carlo instance (check_mc_partition);
    `energy`: split-supply netlists whose supply currents come back in the waves (verify/energy.py); `programmed`:
    the biases a written instance holds (verify/program.py)."""
    inputs = np.asarray(inputs, float)
    check_mc_partition(partition, seed)
    if programmed is not None and partition != "none":
        raise ConfigError(f"--partition {partition} cannot simulate a programmed instance (its partitions would draw "
                          f"other devices than the ones written); use --partition none")
    check_energy_partition(partition, energy)
    run_kw = dict(workers=workers, cache=cache, progress=progress, timeout=timeout, scheduler=scheduler,
                  mem_limit_gb=mem_limit_gb)
    if check_partition(partition, layer_netlist) != "none":
        return _simulate_partitioned(weights, inputs, cell, design, lib_line, scales, clip, chunks, wire_cap,
                                     layer_netlist, temp, keep_waves, partition, dict(run_kw, load=fanout_load))
    bundles, ranges, n_clipped = build_bundles(weights, inputs, cell, design, lib_line, scales, clip=clip,
                                               chunks=chunks, wire_cap=wire_cap, layer_netlist=layer_netlist,
                                               temp=temp, seed=seed, energy=energy, programmed=programmed)
    results = run_jobs(transient_jobs(bundles, keep_waves or energy), label="SPICE transient", **run_kw)
    failed = [r for r in results if not r.ok]
    if failed:
        raise failed[0].error if isinstance(failed[0].error, SpiceError) else SpiceError(str(failed[0].error))
    plots = [r.plots[0] for r in results]
    times = _read_times(weights, len(inputs), bundles, ranges, plots)
    return CircuitResult(times, bundles, ranges, plots if keep_waves or energy else [], n_clipped,
                         jobs=[job_record(r, rng) for r, rng in zip(results, ranges)])


def transient_jobs(bundles: list[NetlistBundle], keep_waves: bool) -> list[SimJob]:
    """The test transient of each chunk: its spike nodes (and membranes with keep_waves) over time."""
    jobs = []
    for k, b in enumerate(bundles):
        vecs = ["time"] + [n for layer in b.spike_nodes for n in layer]
        if keep_waves:
            vecs += [n for layer in b.mem_nodes for n in layer]
        if b.split_supply:
            vecs += supply_vectors(b)
        jobs.append(SimJob(b.text, (b.tran,), tuple(vecs), f"chunk{k}"))
    return jobs


def check_program_layers(layer_netlist) -> None:
    """A written instance trims every neuron on biases of its own, which an extracted layer has no ports for."""
    if layer_netlist is not None:
        raise ConfigError("--program write-verify trims every neuron on biases of its own, which an extracted layer "
                          "netlist (--layer-netlist) has no ports for")


def check_mc_partition(partition: str, seed: int | None) -> None:
    """A seeded (Monte-Carlo) circuit must be one physical circuit in every transient. A partition netlist holds
    another subset of the devices, so its draws would belong to another circuit: refused."""
    if seed is not None and partition != "none":
        raise ConfigError(f"--partition {partition} cannot simulate a Monte-Carlo instance (each partition netlist "
                          f"would draw its own mismatch, not one circuit's); use --partition none with --mc")


def check_energy_partition(partition: str, energy: bool) -> None:
    if energy and partition != "none":
        raise ConfigError(f"--energy needs the whole network in one transient (its supplies split per layer); "
                          f"--partition {partition} simulates copies of neurons in several transients: use "
                          f"--partition none")


def _simulate_partitioned(weights, inputs, cell, design, lib_line, scales, clip, chunks, wire_cap, layer_netlist,
                          temp, keep_waves, partition, run_kw) -> CircuitResult:
    check_network(weights, inputs)
    biases, n_clipped = gate_biases(weights, cell, scales, clip)
    ranges = sample_ranges(len(inputs), chunks)
    run = simulate_partitioned(biases, inputs, design, lib_line, ranges, partition,
                               temp=cell.temperature if temp is None else temp, wire_cap=wire_cap,
                               keep_waves=keep_waves, **run_kw)
    return CircuitResult(run.times, run.views, ranges, run.waves, n_clipped, files=run.files, jobs=run.jobs)


def _read_times(weights: list[np.ndarray], n_samples: int, bundles: list[NetlistBundle],
                ranges: list[tuple[int, int]], plots: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """Per-layer (n_samples, n_out) spike times from one plot per chunk."""
    times = [np.ones((n_samples, w.shape[0])) for w in weights]
    for b, (a, e), plot in zip(bundles, ranges, plots):
        for l in range(len(weights)):
            windows = [b.fire_window(l, s) for s in range(e - a)]
            times[l][a:e] = layer_spike_times(plot["time"], plot, b.spike_nodes[l], windows, b.vdd / 2, b.t_circ)
    return times


def simulate_scales(weights: list[np.ndarray], inputs: np.ndarray, cell: CellParams, design: CellDesign,
                    lib_line: str, candidates: list[Scales], *, clip: bool = True, chunks: int = 2,
                    workers: int | None = None, cache: ResultCache | None = None, wire_cap: float = 0.0,
                    layer_netlist: str | None = None, temp: float | None = None, scheduler: str | None = None,
                    mem_limit_gb: float | None = None, seed: int | None = None,
                    energy: bool = False) -> list[list[np.ndarray]]:
    """Spike times (per layer) for each candidate scale, loading each chunk's netlist once: between candidates only
    the gate-bias sources change (`alter`), which costs milliseconds instead of a netlist expansion (seconds).
    `energy`: the split-supply netlists (the same circuit; what a split-supply --layer-netlist fits)."""
    inputs = np.asarray(inputs, float)
    bundles, ranges, _ = build_bundles(weights, inputs, cell, design, lib_line, Scales(), clip=True, chunks=chunks,
                                       wire_cap=wire_cap, layer_netlist=layer_netlist, temp=temp, seed=seed,
                                       energy=energy)
    mapper = BiasMapper(cell)
    alters: list[list[str]] = []
    for s in candidates:
        cmds = []
        for l, w in enumerate(weights, start=1):
            vn, vp, _ = mapper.biases(np.asarray(w, float), s, clip=clip)
            for (i, j), v in np.ndenumerate(vn):
                cmds.append(f"alter vn_{l}_{i}_{j} dc={v:.9g}")
            for (i, j), v in np.ndenumerate(vp):
                cmds.append(f"alter vp_{l}_{i}_{j} dc={v:.9g}")
        alters.append(cmds)
    jobs = []
    for k, b in enumerate(bundles):
        cmds: list[str] = []
        for a in alters:
            cmds += a + [b.tran]
        vecs = ("time",) + tuple(n for layer in b.spike_nodes for n in layer)
        jobs.append(SimJob(b.text, tuple(cmds), vecs, f"calibration chunk{k}"))
    results = run_jobs(jobs, workers=workers, cache=cache, progress=True, label="SPICE calibration",
                       timeout=1800.0, scheduler=scheduler, mem_limit_gb=mem_limit_gb)
    failed = [r for r in results if not r.ok]
    if failed:
        raise failed[0].error
    return [_read_times(weights, len(inputs), bundles, ranges, [r.plots[c] for r in results])
            for c in range(len(candidates))]
