"""DSTD accuracy table (issue 5, docs/paper.md §4.4): mean |v_DSTD - v_exact| at the end of accumulation, for grid
sizes M against reversal potentials |E| (symmetric), float64, offset 0, one layer of 10 neurons, 1000 inputs U[0,1],
100 samples, weights N(0, (2/sqrt(n_in))^2).

    .venv/bin/python benchmarks/dstd_error.py
"""

from __future__ import annotations

import math

import torch

from imcpnn.models import functional as Fn

E_VALUES = (1, 2, 4, 10, 30, 100)
M_VALUES = (3, 4, 8, 10, 16, 32, 64)


def main() -> None:
    dt = torch.float64
    g = torch.Generator().manual_seed(0)
    t = torch.rand(100, 1000, generator=g, dtype=dt)
    w = torch.randn(10, 1000, generator=g, dtype=dt) / math.sqrt(1000) * 2
    exact = {e: Fn.rcspike_exact(t, w, e, -e) for e in E_VALUES}
    print("M \\ |E| " + " ".join(f"{e:>9}" for e in E_VALUES))
    for m in M_VALUES:
        errs = [(Fn.rcspike_dstd(t, w, e, -e, m, 0.0) - exact[e]).abs().mean().item() for e in E_VALUES]
        print(f"{m:>8} " + " ".join(f"{x:9.2e}" for x in errs))


if __name__ == "__main__":
    main()
