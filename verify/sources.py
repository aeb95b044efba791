"""Where the verified network comes from: a trained run directory, or weight + input files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from imcpnn.cell import CellParams
from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.train import layer_weights, load_run
from imcpnn.train.data import load_dataset
from imcpnn.train.loop import load_run_config
from imcpnn.userfiles import load_csv_matrix
from imcpnn.verify.flow import Network


def from_run(run_dir: str | Path, n_samples: int = 50, n_calibration: int = 20, seed: int = 0,
             with_cell: bool = True) -> tuple[Network, CellParams | None]:
    """The run's trained weights and its own neuron-model record (model.json), its test split and calibration samples
    drawn (seeded) from its training split. Returns the run's cell too (None for a run without one, or with
    with_cell=False: the caller brings its own, so a stale copy in the run must not stand in the way)."""
    if load_run_config(Path(run_dir)).model.kind != "rcspike":
        raise ConfigError(f"{run_dir}: a TTFS run has no circuit here; only RC-Spike runs can be exported to netlists")
    run = load_run(run_dir, with_cell=with_cell)
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
    """Weight matrices in layer order from .npz (arrays) or .pt (a list or a state dict of `*.weight`); one-line
    errors for a damaged file, and a refusal for biases, which the netlists have no place for."""
    if path.is_dir():
        raise ConfigError(f"weights file {path} is a directory, not a file")
    if not path.is_file():
        raise ConfigError(f"weights file {path} not found")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = sorted(z.files, key=lambda k: (len(k), k))
                ws = [np.asarray(z[k], float) for k in keys]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"weights file {path}: not a readable .npz archive ({exc})") from None
        biases = [k for k in keys if "bias" in k.lower()]
    elif path.suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001  (torch raises many types for a damaged or foreign file)
            raise ConfigError(f"weights file {path}: not a readable weights-only torch file "
                              f"({type(exc).__name__})") from None
        biases = [k for k, v in obj.items() if k.endswith("bias") and v is not None] if isinstance(obj, dict) else []
        if isinstance(obj, dict):
            obj = [v for k, v in obj.items() if k.endswith("weight")] or list(obj.values())
        try:
            ws = [np.asarray(t.detach().numpy() if hasattr(t, "detach") else t, float) for t in obj]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"weights file {path}: expected a list or state dict of weight tensors ({exc})") from None
    else:
        raise ConfigError(f"weights file {path}: use .npz (arrays in layer order) or .pt (list or state dict)")
    if biases:
        raise ConfigError(f"weights file {path} holds biases ({', '.join(biases[:3])}); the IMC netlists have no bias "
                          "term: fold each bias into an always-on input column, or train without biases")
    return ws


def from_files(weights: str | Path, inputs: str | Path, cell: CellParams, kicks: bool = True,
               labels: str | Path | None = None) -> Network:
    """Any network: weights (.npz arrays in layer order, or .pt), input spike times (CSV, one sample per row).
    The model is the cell's (NeuronModel.from_cell: E+, E-, E_dis, firing law, lambda table, spike-line kicks). With labels (one class index per
    input row) the accuracies of model and circuit are reported too."""
    ws = _load_weights(Path(weights))
    p = Path(inputs)
    if not p.is_file():
        raise ConfigError(f"inputs file {p} not found")
    x = load_csv_matrix(p, "inputs file")
    y = None if labels is None else load_labels(Path(labels), len(x), ws[-1].shape[0])
    model = NeuronModel.from_cell(cell, kicks=kicks)
    return Network(ws, x, model, None, y, None, "custom", f"{Path(weights).name} + {p.name}")


def load_labels(path: Path, n_samples: int, n_out: int) -> np.ndarray:
    """Class indices, one per input row (a one-column CSV), each within the output layer's n_out neurons."""
    y = load_csv_matrix(path, "labels file")
    if y.shape[1] != 1 or len(y) != n_samples:
        raise ConfigError(f"labels file {path}: expected {n_samples} rows of one class index each (one per input "
                          f"row), got {y.shape[0]}x{y.shape[1]}")
    y = y[:, 0]
    if not np.all(y == np.round(y)) or y.min() < 0 or y.max() >= n_out:
        raise ConfigError(f"labels file {path}: class indices must be integers in [0, {n_out - 1}] "
                          f"(the output layer has {n_out} neurons)")
    return y.astype(np.int64)


def with_cell_kicks(net: Network, cell: CellParams, enabled: bool = True) -> Network:
    """A bottom-up network's model takes the spike-line kicks of the cell it is verified against (extract/kicks.py):
    they are a property of the circuit, like E, not of training. Top-down and custom models stay as they are."""
    if enabled and net.flow == "bottom-up" and cell.kicks is not None:
        measured = NeuronModel.from_cell(cell)
        net.model = net.model.with_kicks(measured.kicks, measured.kicks_neuron)
    return net


def default_scale_mode(flow: str) -> str:
    return {"bottom-up": "global", "top-down": "per-branch"}.get(flow, "none")

