"""Where the verified network comes from: a trained run directory, or weight + input files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imcpnn.cell import CellParams
from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.train import layer_weights, load_run
from imcpnn.train.data import load_dataset
from imcpnn.verify.flow import Network


def from_run(run_dir: str | Path, n_samples: int = 50, n_calibration: int = 20,
             seed: int = 0) -> tuple[Network, CellParams | None]:
    """The run's trained weights and its own neuron-model record (model.json), its test split and calibration samples
    drawn (seeded) from its training split. Returns the run's cell too (None for a run without one)."""
    run = load_run(run_dir)
    cfg = run.config
    if cfg.model.arch != "mlp":
        raise ConfigError(f"{run_dir}: only MLP runs can be exported to netlists (this one is {cfg.model.arch})")
    weights = [w.numpy().astype(np.float64) for w in layer_weights(run.net)]
    data = load_dataset(cfg.dataset, flatten=True)
    x_test = data.x_test.numpy().astype(np.float64)[:n_samples]
    y_test = data.y_test.numpy()[:n_samples]
    rng = np.random.default_rng(seed)
    cal_idx = rng.choice(len(data.x_train), size=min(n_calibration, len(data.x_train)), replace=False)
    x_cal = data.x_train.numpy().astype(np.float64)[np.sort(cal_idx)]
    flow = "bottom-up" if cfg.neuron.from_ is not None else "top-down"
    return (Network(weights, x_test, run.model, x_cal, y_test, cfg.n_classes, flow, f"run {Path(run_dir).name}"),
            run.cell)


def _load_weights(path: Path) -> list[np.ndarray]:
    if not path.is_file():
        raise ConfigError(f"weights file {path} not found")
    if path.suffix == ".npz":
        with np.load(path) as z:
            keys = sorted(z.files, key=lambda k: (len(k), k))
            return [np.asarray(z[k], float) for k in keys]
    if path.suffix in (".pt", ".pth"):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            obj = [v for k, v in obj.items() if k.endswith("weight")] or list(obj.values())
        return [np.asarray(t.detach().numpy() if hasattr(t, "detach") else t, float) for t in obj]
    raise ConfigError(f"weights file {path}: use .npz (arrays in layer order) or .pt (list or state dict)")


def from_files(weights: str | Path, inputs: str | Path, cell: CellParams, kicks: bool = True) -> Network:
    """Any network: weights (.npz arrays in layer order, or .pt), input spike times (CSV, one sample per row).
    The model is the cell's (E+, E-, E_dis, leak, firing law, spike-line kicks)."""
    ws = _load_weights(Path(weights))
    p = Path(inputs)
    if not p.is_file():
        raise ConfigError(f"inputs file {p} not found")
    try:
        x = np.loadtxt(p, delimiter=",", ndmin=2)
    except ValueError as exc:
        raise ConfigError(f"{p}: not a numeric CSV of spike times ({exc})") from None
    model = NeuronModel.from_cell(cell, kicks=kicks)
    return Network(ws, x, model, None, None, None, "custom", f"{Path(weights).name} + {p.name}")


def with_cell_kicks(net: Network, cell: CellParams, enabled: bool = True) -> Network:
    """A bottom-up network's model takes the spike-line kicks of the cell it is verified against (extract/kicks.py):
    they are a property of the circuit, like E, not of training. Top-down and custom models stay as they are."""
    if enabled and net.flow == "bottom-up" and cell.kicks is not None:
        measured = NeuronModel.from_cell(cell)
        net.model = net.model.with_kicks(measured.kicks, measured.kicks_neuron)
    return net


def default_scale_mode(flow: str) -> str:
    return {"bottom-up": "global", "top-down": "per-branch"}.get(flow, "none")

