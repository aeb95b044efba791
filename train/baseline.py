"""ANN and scaled-ANN baselines (docs/paper.md §5.3, §7.1 claim 6, App. F).

The "ANN" is a run trained at a large |E| (the paper: 100 for RC-Spike, 31.6 for TTFS), evaluated unchanged at a
smaller symmetric |E|. The "scaled ANN" multiplies its positive weights by alpha+ and its negative ones by alpha-
(one pair for the whole network, bias included) and takes, for each |E|, the pair with the best accuracy on
`search_samples` samples drawn (seeded by the config seed) from the run's TRAINING split; the table reports test
accuracy. The grid is the paper's, alpha in {step, 2 step, ..., max}, searched coarse to fine: every `coarse`-th
point first, then every point within `coarse` steps of the best of those (docs/training.md, "Baselines"). Evaluation
uses the run's evaluation settings (steps_test, fixed DSTD grid, no noise unless sigma_test), as `imc-train eval`
does.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from imcpnn.atomic import atomic_create_bytes
from imcpnn.errors import ConfigError
from imcpnn.train.config import parse_value
from imcpnn.train.data import load_dataset
from imcpnn.train.loop import eval_settings, evaluate, load_run, pick_device
from imcpnn.train.net import rc_layers, set_eval_params


@dataclass
class BaselineRow:
    e_rev: float
    ann: float  # test accuracy of the unchanged network
    scaled: float  # test accuracy with the best (alpha+, alpha-)
    alpha_plus: float
    alpha_minus: float
    scaled_train: float  # the accuracy on the training samples that chose them

    def to_dict(self) -> dict:
        d = asdict(self)
        d["e_rev"] = "inf" if math.isinf(self.e_rev) else self.e_rev
        return d


def alpha_grid(step: float, top: float) -> list[float]:
    """step, 2 step, ..., top (rounded to the step's decimals so that 1.0 is on the grid when step divides it)."""
    if not 0 < step <= top:
        raise ConfigError(f"alpha grid needs 0 < step <= max (got step {step}, max {top})")
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(k * step, digits) for k in range(1, int(round(top / step)) + 1)]


@torch.no_grad()
def scale_signs_(net: torch.nn.Module, base: list[tuple[torch.Tensor, torch.Tensor | None]], a_plus: float,
                 a_minus: float) -> None:
    """Set every spiking layer's weight (and bias) to its `base` copy with positive entries times a_plus and
    negative ones times a_minus."""
    for layer, (w, b) in zip(rc_layers(net), base):
        layer.weight.copy_(torch.where(w >= 0, w * a_plus, w * a_minus))
        if b is not None:
            layer.bias.copy_(torch.where(b >= 0, b * a_plus, b * a_minus))


def _search(net, base, x, y, cfg, grid: list[float], coarse: int) -> tuple[float, float, float]:
    """(accuracy, alpha+, alpha-) of the best pair on (x, y), coarse to fine over `grid`; ties go to the pair
    nearest (1, 1) in log distance."""
    seen: dict[tuple[int, int], tuple[float, float]] = {}

    def best_of(ip: range, im: range) -> tuple[int, int]:
        for i in ip:
            for j in im:
                if (i, j) not in seen:
                    scale_signs_(net, base, grid[i], grid[j])
                    seen[(i, j)] = (evaluate(net, x, y, cfg), -abs(math.log(grid[i])) - abs(math.log(grid[j])))
        return max(seen, key=seen.get)

    n = len(grid)
    start = (coarse - 1) % coarse if n >= coarse else 0  # the coarse points end on the grid's top
    i, j = best_of(range(start, n, coarse), range(start, n, coarse))
    i, j = best_of(range(max(0, i - coarse), min(n, i + coarse + 1)), range(max(0, j - coarse), min(n, j + coarse + 1)))
    return seen[(i, j)][0], grid[i], grid[j]


def baseline(run_dir: str | Path, e_values: list[float], *, alpha_step: float = 0.1, alpha_max: float = 3.0,
             coarse: int = 3, search_samples: int = 360, progress=None) -> list[BaselineRow]:
    """ANN and scaled-ANN accuracy of the run in `run_dir` at each symmetric |E| of `e_values` (module docstring);
    `progress(row)` is called after each |E|."""
    ann = load_run(run_dir)
    cfg = ann.config
    if cfg.model.kind == "ttfs" and min(e_values) <= 1:
        raise ConfigError(f"a TTFS network cannot fire at |E| <= 1 (the threshold); got {min(e_values)}")
    grid = alpha_grid(alpha_step, alpha_max)
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    device = pick_device(cfg.device)
    base = [(lay.weight.detach().clone().to(device), None if lay.bias is None else lay.bias.detach().clone().to(device))
            for lay in rc_layers(ann.net)]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    pick = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(cfg.seed))[:search_samples]
    xtr, ytr = data.x_train[pick].to(device), data.y_train[pick].to(device)
    xte, yte = data.x_test.to(device), data.y_test.to(device)
    rows = []
    for e in e_values:
        net = load_run(run_dir, e_rev=float(e)).net.to(device)
        set_eval_params(net, **eval_settings(cfg))
        acc_ann = evaluate(net, xte, yte, cfg, device=device)
        tr_acc, ap, am = _search(net, base, xtr, ytr, cfg, grid, coarse)
        scale_signs_(net, base, ap, am)
        row = BaselineRow(float(e), acc_ann, evaluate(net, xte, yte, cfg, device=device), ap, am, tr_acc)
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def parse_e_values(text: str) -> list[float]:
    """'1,2,4,inf' -> [1.0, 2.0, 4.0, inf]; every value a number > 0."""
    out = []
    for item in (v.strip() for v in text.split(",")):
        val = parse_value(item) if item else None
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not val > 0:
            raise ConfigError(f"--e expects |E| values > 0 separated by commas (inf allowed), got {item!r}")
        out.append(float(val))
    return out


def rows_csv(rows: list[BaselineRow]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(BaselineRow)])
    w.writeheader()
    for r in rows:
        w.writerow(r.to_dict())
    return buf.getvalue()


def save_csv(path: str | Path, rows: list[BaselineRow]) -> Path:
    """Write the table; an existing file is never replaced."""
    try:
        return atomic_create_bytes(path, rows_csv(rows).encode("utf-8"))
    except FileExistsError:
        raise ConfigError(f"{path} already exists; pick another --out (earlier results are kept)") from None
