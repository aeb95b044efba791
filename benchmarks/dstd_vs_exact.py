"""Exact event-ordered solver vs DSTD: training time per epoch and peak memory (docs/paper.md §4.5, issues 5 and 17).

RC-Spike (``--model rcspike``, the default): one layer of 1000 neurons, 1000 samples of input spike times U[0,1],
batch 100, M = 10 (fixed offset), |E| = 2, n_in in {100, 300, 1000}.
TTFS (``--model ttfs``): the same layer as TTFS neurons (docs/paper.md §1.4, §4.3), M = 20 over the window
[0, t_max = 2], n_in in {100, 300} (the exact solver's graph holds n_in steps of (n_out, batch) tensors); weights
U(-0.25, 1) w_max/n_in with App. C's w_max for one layer and t_ref = 1, so most neurons fire near t = 0.7 and a fifth
of the synapses are inhibitory; loss = sum of the first-spike times. ``--model both`` runs the two tables in one go.
One epoch = forward + backward (loss = sum of output spike times) over all batches, timed after one untimed warm-up batch. Epochs are repeated until at least ``--epochs`` have run and ``--min-time``
seconds have been spent, and the fastest is reported (as timeit does: on a shared machine the minimum is the
estimate least disturbed by other load). One exact epoch alone exceeds the default 3 s, so in practice this only
repeats the short DSTD epochs. Both solvers run single-threaded by default (``--threads``): when other jobs keep
the cores busy, a multi-threaded torch pool stalls at every parallel op, which hits DSTD's many short ops far harder
than the exact solver's few huge ones (docs/models.md, "Threads", has a measured case), so the ratio would measure
the neighbours. The footer prints the load average at start and end.

Peak memory is MEASURED, each (solver, n_in) in a fresh subprocess:
  * CPU: the kernel's peak resident set (VmHWM) is reset with ``echo 5 > /proc/self/clear_refs`` after the data,
    weights and warm-up are in place; peak = VmHWM after the epochs minus VmRSS at the reset. If clear_refs is not
    writable, it falls back to ru_maxrss after the epochs minus ru_maxrss before it (the reported method says which).
    RSS only follows live memory if freed tensors leave the process: with glibc's default dynamic mmap threshold,
    freed blocks of up to 32 MiB stay in the heap and are reused or counted at the reset, so the DSTD peak (before
    the fused DSTD Function) varied by a factor of two across runs of the same code (docs/models.md). The parent therefore starts
    every worker, of BOTH solvers, with ``MALLOC_MMAP_THRESHOLD_=65536`` (every block >= 64 KiB is its own mapping,
    returned to the kernel when freed) and ``MALLOC_TRIM_THRESHOLD_=0`` (the heap top is trimmed on every free).
    The cost is a page fault per fresh page, which slows both solvers (the short-lived DSTD tensors relatively more;
    the exact solver's large ones are mmapped anyway), so the speed-up is conservative.
  * CUDA: torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus the memory allocated at the reset.

Usage:  python benchmarks/dstd_vs_exact.py [--model rcspike|ttfs|both] [--quick] [--json PATH] [--result DIR]
                                          [--device cpu|cuda] [--epochs N] [--min-time S] [--threads N]

--result DIR writes the result files (imcpnn/results.py, scripts/paper_claims.py) of claim 2 from the RC-Spike rows
and of claim 2-ttfs from the TTFS rows, each from the largest n_in measured; only the models measured are written.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from imcpnn.atomic import atomic_write_json
from imcpnn.results import write_result

# glibc malloc settings under which RSS follows live memory (see the module docstring); set for every worker
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _layer(a, dev):
    """The weights (requires_grad) and the output spike times of one layer for a batch, as the model and solver
    in `a` compute them. Called in the worker only (its imports, like the worker's, stay out of the parent)."""
    import torch
    from imcpnn.models import functional as Fn
    from imcpnn.models.ttfs import ttfs_w_max

    if a.model == "ttfs":
        w = (torch.rand(a.n_out, a.n_in, device=dev) * 1.25 - 0.25) * ttfs_w_max(a.e, 1, 1.0) / a.n_in
    else:
        w = (torch.rand(a.n_out, a.n_in, device=dev) * 2 - 1) * (3.0 / a.n_in) ** 0.5
    w.requires_grad_(True)

    def out(xb):
        if a.model == "ttfs":
            if a.solver == "exact":
                return Fn.ttfs_exact(xb, w, a.e, -a.e, t_max=a.t_max)
            return Fn.ttfs_dstd(xb, w, a.e, -a.e, a.steps, 0.0, a.t_max)
        if a.solver == "exact":
            return Fn.fire_time(Fn.rcspike_exact(xb, w, a.e, -a.e))
        return Fn.fire_time(Fn.rcspike_dstd(xb, w, a.e, -a.e, a.steps, 0.0))

    return w, out


def worker(a) -> dict:
    # imported in the worker only: the parent stays light, and each solver's process starts from the same baseline
    import torch

    dev = torch.device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    X = torch.rand(a.samples, a.n_in, device=dev)
    w, out = _layer(a, dev)

    def step(xb):
        loss = out(xb).sum()
        w.grad = None
        loss.backward()

    step(X[: a.batch])  # warm-up (allocator, kernels); not timed
    w.grad = None
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    method = None
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        method = "cuda max_memory_allocated"
    else:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            base = _status_kb("VmRSS") * 1024
            method = "VmHWM after clear_refs reset"
        except OSError:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            method = "ru_maxrss delta (upper bound of baseline; may under-report small peaks)"
    times = []
    while len(times) < a.epochs or sum(times) < a.min_time:
        sync()
        t0 = time.perf_counter()
        for i in range(0, a.samples, a.batch):
            step(X[i:i + a.batch])
        sync()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    elif method.startswith("VmHWM"):
        peak = _status_kb("VmHWM") * 1024 - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"model": a.model, "solver": a.solver, "n_in": a.n_in, "epoch_s": min(times), "epochs_timed": len(times),
            "peak_bytes": max(int(peak), 0), "mem_method": method, "threads": torch.get_num_threads(),
            "device": str(dev), "malloc_env": {k: os.environ.get(k) for k in MALLOC_ENV}}


def run_one(a, solver: str, n_in: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", a.model, "--t-max", str(a.t_max),
           "--solver", solver, "--n-in", str(n_in),
           "--n-out", str(a.n_out), "--samples", str(a.samples), "--batch", str(a.batch), "--steps", str(a.steps),
           "--epochs", str(a.epochs), "--min-time", str(a.min_time), "--threads", str(a.threads),
           "--device", a.device, "--e", str(a.e)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **MALLOC_ENV})
    if out.returncode != 0:
        raise SystemExit(f"worker {solver} n_in={n_in} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced size (200 neurons, 200 samples), < 1 min")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--result", metavar="DIR", help="write the results of claims 2 / 2-ttfs into DIR (docs/results)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--n-in", type=int, nargs="*", default=None)
    p.add_argument("--n-out", type=int, default=1000)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--model", choices=("rcspike", "ttfs", "both"), default="rcspike")
    p.add_argument("--steps", type=int, default=None, help="DSTD M (default 10 for RC-Spike, 20 for TTFS)")
    p.add_argument("--t-max", type=float, default=2.0, help="TTFS window (DSTD grid span)")
    p.add_argument("--epochs", type=int, default=1, help="minimum timed epochs per config (the fastest is reported)")
    p.add_argument("--min-time", type=float, default=3.0,
                   help="repeat epochs until this many seconds are spent (default 3)")
    p.add_argument("--e", type=float, default=2.0, help="|E| (symmetric)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads per worker (default 1, see above; 0: torch's default, one per core)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--solver", default="dstd", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = _args(argv)
    if a.device is None:
        import torch
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.worker:
        a.n_in = a.n_in[0]
        print(json.dumps(worker(a)))
        return 0
    if a.quick:
        a.n_out, a.samples = 200, 200
    load0 = os.getloadavg()[0]
    models = ("rcspike", "ttfs") if a.model == "both" else (a.model,)
    steps = a.steps
    rows = []
    for model in models:
        a.model = model
        a.steps = steps or (20 if model == "ttfs" else 10)
        sizes = a.n_in or ([100, 300] if a.quick or model == "ttfs" else [100, 300, 1000])
        name = "TTFS" if model == "ttfs" else "RC-Spike"
        window = f", window [0, {a.t_max:g}]" if model == "ttfs" else ""
        print(f"{name} layer: {a.n_out} neurons, {a.samples} samples, batch {a.batch}, M={a.steps}{window}, "
              f"|E|={a.e}, device={a.device}; each config in a fresh process")
        hdr = f"{'n_in':>6} | {'exact s/epoch':>13} {'DSTD s/epoch':>13} {'speed-up':>9} | " \
              f"{'exact peak MiB':>14} {'DSTD peak MiB':>14} {'mem ratio':>9}"
        print(hdr)
        print("-" * len(hdr))
        rows += [{"model": model, "steps": a.steps, **_row(a, n)} for n in sizes]
    a.model, a.steps = "both" if len(models) > 1 else models[0], steps
    _footer(a, rows, load0)
    return 0


def _row(a: argparse.Namespace, n: int) -> dict:
    """Both solvers at one n_in, each in a fresh process; prints the table row."""
    ex = run_one(a, "exact", n)
    ds = run_one(a, "dstd", n)
    r = {"n_in": n, "exact": ex, "dstd": ds, "speedup": ex["epoch_s"] / ds["epoch_s"],
         "mem_ratio": ex["peak_bytes"] / max(ds["peak_bytes"], 1)}
    mib = 2.0 ** 20
    print(f"{n:>6} | {ex['epoch_s']:>13.3f} {ds['epoch_s']:>13.3f} {r['speedup']:>8.1f}x | "
          f"{ex['peak_bytes'] / mib:>14.1f} {ds['peak_bytes'] / mib:>14.2f} {r['mem_ratio']:>8.1f}x", flush=True)
    return r


def _footer(a: argparse.Namespace, rows: list[dict], load0: float) -> None:
    """How memory and time were measured, the machine's load, and the JSON file."""
    ex0 = rows[0]["exact"]
    menv = " ".join(f"{k}={v}" for k, v in ex0["malloc_env"].items())
    ntimed = ", ".join(f"{r['exact']['epochs_timed']}/{r['dstd']['epochs_timed']}" for r in rows)
    print(f"memory: {ex0['mem_method']}, peak minus baseline, workers run with {menv} for both solvers")
    load = (load0, os.getloadavg()[0])
    print(f"time: fastest of the timed epochs (exact/DSTD per n_in: {ntimed}); torch threads: {ex0['threads']}; "
          f"1-min load average {load[0]:.2f} at start, {load[1]:.2f} at end on {os.cpu_count()} CPUs (other jobs "
          f"slow the short DSTD epochs most)")
    if a.json:
        keys = ("model", "n_out", "samples", "batch", "e", "t_max", "device", "epochs", "min_time", "threads", "quick")
        atomic_write_json(a.json, {"config": {k: getattr(a, k) for k in keys},
                                   "load_avg_start_end": load, "results": rows})
    if a.result:
        write_claim(a, rows, load)


#: per model: (claim id, the paper's speed-up and memory ratio a "reproduced" needs, what they rest on)
PAPER_RATIOS = {"rcspike": ("2", 20.0, 100.0, "v2's 20x and 100x"),
                "ttfs": ("2-ttfs", 10.0, 10.0, "v1's 10x less memory and an order of magnitude faster (v1's "
                         "'1000x' is doubtful, docs/paper.md §4.5)")}


def write_claim(a: argparse.Namespace, rows: list[dict], load: tuple[float, float]) -> None:
    """Claims 2 and 2-ttfs (docs/paper.md §4.5), each from its model's rows only (a claim whose rows were not
    measured keeps its earlier result): the speed-up and memory ratio at the largest n_in against the paper's."""
    for model, (claim, need_sp, need_mem, paper) in PAPER_RATIOS.items():
        mine = [row for row in rows if row["model"] == model]
        if not mine:
            continue
        r = max(mine, key=lambda row: row["n_in"])
        sp, mem = r["speedup"], r["mem_ratio"]
        status = "reproduced" if sp >= need_sp and mem >= need_mem else "partial" if sp > 1 and mem > 1 \
            else "differs"
        cmd = "python benchmarks/dstd_vs_exact.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in (("model", model),
                                                       ("n_in", " ".join(str(x["n_in"]) for x in mine)),
                                                       ("n_out", a.n_out), ("samples", a.samples),
                                                       ("device", a.device)))
        window = f", window [0, {a.t_max:g}]" if model == "ttfs" else ""
        why = f"against {paper} at n_in {r['n_in']}"
        write_result(a.result, claim, figure=f"{sp:.0f}x faster, {mem:.0f}x less memory at n_in {r['n_in']} "
                     f"({a.n_out} neurons, batch {a.batch}, M {r['steps']}{window}, {a.device})", status=status,
                     why="" if status == "reproduced" and model == "rcspike" else why,
                     command=f"{cmd} --result {a.result}",
                     conditions={"n_out": a.n_out, "samples": a.samples, "batch": a.batch, "steps": r["steps"],
                                 "e": a.e, "t_max": a.t_max, "device": a.device, "threads": a.threads,
                                 "load_avg_start_end": list(load), "cpus": os.cpu_count(),
                                 "memory": r["exact"]["mem_method"]},
                     data={"rows": mine})

if __name__ == "__main__":
    sys.exit(main())
