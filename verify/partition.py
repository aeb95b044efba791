"""Partitioned verification: the network as many small transients instead of one per chunk of samples.

ngspice's transient time grows faster than the circuit (its sparse solver is not KLU here), so a large network is
cheaper as independent pieces: layer by layer, and groups of neurons within a layer (netlists/partition.py says how
a piece is driven and loaded). Layer l+1's pieces start when layer l's are done; within a layer they run in parallel
on the process pool or a Dask cluster. ``--partition`` names the split: ``none`` (one transient per chunk, the
default), ``layer`` (one per layer), ``neurons:K`` (at most K neurons of a layer per transient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.netlists import CellDesign
from imcpnn.netlists.network import NetlistBundle
from imcpnn.netlists.partition import Partition, partition_netlist, replay_pwl
from imcpnn.spice.cache import ResultCache
from imcpnn.spice.jobs import JobResult, SimJob
from imcpnn.spice.pool import run_jobs
from imcpnn.verify.readout import layer_spike_times


def parse_partition(spec: str) -> tuple[str, int]:
    """('none' | 'layer' | 'neurons', K) from 'none', 'layer' or 'neurons:K'."""
    s = str(spec).strip().lower()
    if s in ("none", "layer"):
        return s, 0
    head, _, k = s.partition(":")
    if head == "neurons" and k.isdigit() and int(k) >= 1:
        return "neurons", int(k)
    raise ConfigError(f"--partition {spec!r}: use none, layer or neurons:K (K >= 1 neurons per transient)")


def check_partition(spec: str, layer_netlist: str | None = None) -> str:
    """The partition mode of ``spec``; an error for a spec that cannot be simulated (also with --layer-netlist)."""
    mode = parse_partition(spec)[0]
    if mode != "none" and layer_netlist is not None:
        raise ConfigError("--layer-netlist substitutes a whole layer's subcircuit; use it with --partition none")
    return mode


def plan_partitions(n_outs: list[int], spec: str) -> list[list[Partition]]:
    """Per layer, its partitions: consecutive neurons in groups of at most K, as even as they can be."""
    mode, k = parse_partition(spec)
    if mode == "none":
        raise ConfigError("--partition none has no partitions: the network is simulated whole")
    plan = []
    for l, n in enumerate(n_outs, start=1):
        groups = np.array_split(np.arange(n), 1 if mode == "layer" else math.ceil(n / k))
        plan.append([Partition(l, tuple(int(i) for i in g)) for g in groups])
    return plan


@dataclass
class PartitionedRun:
    """What a partitioned simulation gives back (verify/simulate.py turns it into a CircuitResult)."""

    times: list[np.ndarray]
    files: list[tuple[str, NetlistBundle]]  # (file stem, netlist) of every transient
    views: list[NetlistBundle]  # per chunk: the whole network's node lists on the common time axis (plots)
    waves: list[dict[str, np.ndarray]] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)


def _drivers(prev: dict[int, tuple[NetlistBundle, dict]], n_in: int, layer: int) -> list[tuple[str, str]]:
    """Per input j of ``layer``: PWLs of upstream neuron j's latch outputs, from the upstream partition's plot."""
    out = []
    for j in range(n_in):
        bundle, plot = prev[j]
        q, qb = bundle.latch_nodes[f"spk_{layer - 1}_{j}"]
        out.append((replay_pwl(plot["time"], plot[q]), replay_pwl(plot["time"], plot[qb])))
    return out


def _merge_waves(plots: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Several transients' vectors on one time axis (the union of their time points, linear interpolation)."""
    t = np.unique(np.concatenate([p["time"] for p in plots]))
    out = {"time": t}
    for p in plots:
        for k, v in p.items():
            if k != "time":
                out[k] = np.interp(t, p["time"], v)
    return out


def simulate_partitioned(biases: list, inputs: np.ndarray, design: CellDesign, lib_line: str,
                         ranges: list[tuple[int, int]], spec: str, *, temp: float, wire_cap: float = 0.0,
                         keep_waves: bool = False, load: str = "lumped", **run_kw) -> PartitionedRun:
    """Spike times of every layer, partition by partition, layer after layer (module docstring); ``load``: the
    fan-out outside a partition (netlists/partition.py); ``run_kw`` go to spice.pool.run_jobs (workers, cache,
    scheduler, mem_limit_gb, timeout, progress)."""
    L = len(biases)
    plan = plan_partitions([len(vn) for vn, _ in biases], spec)
    times = [np.ones((len(inputs), len(vn))) for vn, _ in biases]
    files, jobs_info, views, waves = [], [], [], []
    upstream: list[dict[int, tuple[NetlistBundle, dict]]] = [{} for _ in ranges]
    last: list[list[tuple[NetlistBundle, dict]]] = [[] for _ in ranges]
    for l, parts in enumerate(plan, start=1):
        work = []
        for c, (a, e) in enumerate(ranges):
            drivers = None if l == 1 else _drivers(upstream[c], biases[l - 1][0].shape[1], l)
            for p in parts:
                b = partition_netlist(design, lib_line, biases, p, e - a, input_times=inputs[a:e] if l == 1 else None,
                                      drivers=drivers, wire_cap=wire_cap, temp=temp, load=load,
                                      title=f"samples {a}..{e - 1}")
                vecs = ("time", *b.spike_nodes[l - 1], *(v for qq in b.latch_nodes.values() for v in qq),
                        *(b.mem_nodes[l - 1] if keep_waves else ()))
                work.append((c, p, b, SimJob(b.text, (b.tran,), vecs, f"samples {a}..{e - 1} {p.name}")))
        results = _run(work, l, **run_kw)
        upstream = [{} for _ in ranges]
        for (c, p, b, _), r in zip(work, results):
            a, e = ranges[c]
            plot = r.plots[0]
            windows = [b.fire_window(l - 1, s) for s in range(e - a)]
            times[l - 1][a:e, list(p.neurons)] = layer_spike_times(plot["time"], plot, b.spike_nodes[l - 1], windows,
                                                                   b.vdd / 2, b.t_circ)
            upstream[c].update({i: (b, plot) for i in p.neurons})
            files.append((f"test_samples_{a:03d}-{e - 1:03d}_{p.name}", b))
            jobs_info.append(job_record(r, (a, e), p))
            if l == L:
                last[c].append((b, plot))
    for c in range(len(ranges)):
        b0 = last[c][0][0]
        views.append(replace(b0, spike_nodes=b0.spike_nodes[:-1] + [[n for b, _ in last[c] for n in b.spike_nodes[-1]]],
                             mem_nodes=b0.mem_nodes[:-1] + [[n for b, _ in last[c] for n in b.mem_nodes[-1]]]))
        if keep_waves:
            waves.append(_merge_waves([{k: v for k, v in p.items() if k == "time" or k.startswith(("spk_", "mem_"))}
                                       for _, p in last[c]]))
    return PartitionedRun(times, files, views, waves, jobs_info)


def _run(work: list, layer: int, **run_kw) -> list[JobResult]:
    results = run_jobs([w[3] for w in work], label=f"SPICE transient, layer {layer}", **run_kw)
    failed = [r for r in results if not r.ok]
    if failed:
        raise failed[0].error
    return results


def job_record(r: JobResult, samples: tuple[int, int], part: Partition | None = None) -> dict:
    """One transient in the verification summary: what it held, its wall time and its worker's peak RSS."""
    return {"label": r.label, "samples": list(samples), "layer": None if part is None else part.layer,
            "neurons": None if part is None else list(part.neurons), "seconds": r.seconds,
            "peak_rss_mb": r.peak_rss_mb, "from_cache": r.from_cache}
