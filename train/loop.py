"""Run directories, the training loop, checkpoints with exact resume, evaluation.

Run directory (DESIGN.md):
    config.yaml          the resolved config (E+, E-, E_dis and the weight range as numbers; `source` names the cell)
    cell.json            copy of the CellParams used (only when the config took E from a cell)
    checkpoint.pt        the latest checkpoint (same content as the newest checkpoints/epoch_NNNN.pt)
    checkpoints/epoch_NNNN.pt
    metrics.csv          one row per finished epoch
    summary.json         test_accuracy, train_seconds, parameters, status
A checkpoint is a torch.save dict: epoch, model (state_dict of the SpikeNet; RC layer i's weight is
`layers.<i>.weight`, shape (n_out, n_in)), optimizer, rng (torch, numpy, python, shuffle generator, cuda), history,
train_seconds. Every write is atomic, so Ctrl-C or a crash leaves the last finished epoch resumable.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from imcpnn.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from imcpnn.errors import ConfigError, ImcError
from imcpnn.train.config import (TrainConfig, load_config_dict, neuron_values, resolve_reversal,
                                 resolve_dataset_path, validate_config, validate_with_overrides)
from imcpnn.train.data import DataBundle, augment_images, load_dataset
from imcpnn.train.net import build_net, clamp_weights, forward_all, paper_loss, predict, set_eval_params

METRIC_FIELDS = ["epoch", "train_loss", "train_ce", "train_accuracy", "test_accuracy", "epoch_seconds"]
EVAL_SEED_OFFSET = 1_000_003


class TrainingDiverged(ImcError):
    """The loss became NaN or infinite."""


class RunExists(ConfigError):
    pass


# ------------------------------------------------------------------------------------------------------- helpers
def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but no CUDA device is available; use device: auto or cpu")
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(shuffle_gen: torch.Generator) -> dict:
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
          "shuffle": shuffle_gen.get_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict, shuffle_gen: torch.Generator) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    shuffle_gen.set_state(st["shuffle"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _save_torch(path: Path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_torch(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except OSError as exc:  # permissions, a directory, an I/O error: the file may be fine
        raise ConfigError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{path}: cannot read checkpoint ({type(exc).__name__}); the file is damaged") from None


def _link_latest(src: Path, latest: Path) -> None:
    """Point `latest` at the (already durable) epoch checkpoint: a hard link swapped in atomically, else a copy."""
    tmp = latest.with_name(f".{latest.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(src, tmp)
        os.replace(tmp, latest)
    except OSError:
        tmp.unlink(missing_ok=True)
        atomic_write_bytes(latest, src.read_bytes())


@contextmanager
def _progress(total: int, desc: str, enabled: bool | None):
    tty = sys.stderr.isatty() if enabled is None else enabled
    if tty:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)
        try:
            yield bar
        finally:
            bar.close()
    else:
        yield None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------- config
def make_config(config: str | Path | dict, sets: list[str] | dict | None = None, cell: str | Path | None = None):
    """Load (name, path or dict), apply overrides, validate, resolve `from: cell.json`.
    Returns (TrainConfig with numeric E, CellParams or None, cell path or None)."""
    if isinstance(config, dict):
        data, path, where = config, None, "config"
    else:
        data, path = load_config_dict(config)
        where = str(path)
    cfg = resolve_dataset_path(validate_with_overrides(data, sets, where), path)
    if cfg.dataset.name == "file":
        load_dataset(cfg.dataset, flatten=True)  # the user's file: its defects are one line before a run dir exists
    return resolve_reversal(cfg, cell, path)


def load_run_config(run_dir: Path) -> TrainConfig:
    p = run_dir / "config.yaml"
    if not p.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml); start one with `imc-train run`")
    data, _ = load_config_dict(p)
    return validate_config(data, str(p))


# ------------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(net, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, device=None, batch_size: int = 1000,
             seed: int | None = None) -> float:
    """Accuracy on (x, y). Randomness inside the model (random DSTD offset, spike noise) is drawn from a private RNG
    seeded with `seed` (default: config seed + a constant), so an evaluation is repeatable and does not disturb the
    training RNG."""
    device = device or next(net.parameters()).device
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    was_training = net.training
    net.eval()
    correct = 0
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            t_out = forward_all(net, xb)[-1]
            correct += int((predict(t_out, cfg.n_classes) == yb).sum())
    net.train(was_training)
    return correct / max(1, len(x))


def eval_settings(cfg: TrainConfig, steps: int | None = None, sigma: float | None = None) -> dict:
    """Evaluation settings: DSTD steps (steps_test, else steps), spike noise (sigma_test, default 0) and offset mode."""
    n = cfg.neuron
    return {"steps": steps if steps is not None else (n.steps_test or n.steps),
            "sigma": sigma if sigma is not None else (n.sigma_test or 0.0),
            "eval_offset": n.eval_offset}


def eval_net(net, cfg: TrainConfig, data: DataBundle, steps: int | None = None, sigma: float | None = None) -> float:
    """Test accuracy with the evaluation settings; the layers get their training settings back afterwards."""
    set_eval_params(net, **eval_settings(cfg, steps, sigma))
    try:
        return evaluate(net, data.x_test, data.y_test, cfg)
    finally:
        set_eval_params(net, steps=cfg.neuron.steps, sigma=cfg.neuron.sigma)


# ------------------------------------------------------------------------------------------------------- run dir
def create_run(config, out: str | Path | None = None, sets=None, cell=None) -> Path:
    """Validate the config and write a new run directory (config.yaml, cell.json). Returns its path."""
    cfg, cell_params, cell_path = make_config(config, sets, cell)
    if out is None:
        out = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(out)
    if (out / "checkpoint.pt").exists() or (out / "config.yaml").exists():
        raise RunExists(f"{out} already holds a run; continue it with `imc-train resume {out}` or pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", cfg.to_yaml())
    if cell_path is not None:
        atomic_write_bytes(out / "cell.json", Path(cell_path).read_bytes())
    # what the user asked for, next to the resolved config.yaml: the config it came from and each --set
    atomic_write_json(out / "overrides.json", {"config": str(config) if isinstance(config, (str, Path)) else "(mapping)",
                                               "overrides": _override_list(sets)})
    return out


def _override_list(sets) -> list[str]:
    if not sets:
        return []
    return [f"{k}={v}" for k, v in sets.items()] if isinstance(sets, dict) else list(sets)


def _write_metrics(run_dir: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow(row)
    atomic_write_text(run_dir / "metrics.csv", buf.getvalue())


def count_parameters(net) -> int:
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def _summary(run_dir: Path, cfg: TrainConfig, net, history, train_seconds, status: str, extra=None) -> dict:
    last = history[-1] if history else {}
    vals = neuron_values(cfg.neuron)
    s = {
        "name": cfg.name,
        "status": status,
        "epochs_done": len(history),
        "epochs": cfg.optim.epochs,
        "test_accuracy": last.get("test_accuracy"),
        "best_test_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "train_accuracy": last.get("train_accuracy"),
        "train_seconds": round(train_seconds, 3),
        "parameters": {
            "count": count_parameters(net),
            "seed": cfg.seed,
            "e_plus": vals["e_plus"], "e_minus": vals["e_minus"], "e_dis": vals["e_dis"],
            "alpha_dis": vals["alpha_dis"], "fire_threshold": vals["fire_threshold"], "t_min": vals["t_min"],
            "w_min": vals["w_min"], "w_max": vals["w_max"],
            "solver": cfg.neuron.solver, "steps": cfg.neuron.steps,
            "steps_test": cfg.neuron.steps_test or cfg.neuron.steps, "sigma_test": cfg.neuron.sigma_test or 0.0,
            "eval_offset": cfg.neuron.eval_offset,
            "offset": cfg.neuron.offset, "sigma": cfg.neuron.sigma,
            "lr": cfg.optim.lr, "batch_size": cfg.optim.batch_size,
            "source": cfg.neuron.source,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
        },
    }
    if extra:
        s.update(extra)
    atomic_write_json(run_dir / "summary.json", _json_safe(s))
    return s


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else ("-inf" if obj < 0 else "nan")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


# ------------------------------------------------------------------------------------------------------- training
def train(run_dir: str | Path, progress: bool | None = None, stop_after: int | None = None) -> dict:
    """Train (or continue) the run in `run_dir` to its configured epochs; returns the summary dict.

    Continues from checkpoint.pt when present, restoring model, optimizer, all RNG states and the history, so the
    result is bit-identical to an uninterrupted run on CPU. `stop_after` stops after that many epochs in total
    (used to test resume)."""
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    if data.n_classes > cfg.n_classes:
        raise ConfigError(f"dataset {data.name} has {data.n_classes} classes but the model has {cfg.n_classes} "
                          f"class outputs; set model.n_classes / the last layer size")
    net = build_net(cfg, data.input_shape).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.optim.epochs)
             if cfg.optim.lr_schedule == "cosine" else None)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed + 1)
    history: list[dict] = []
    train_seconds = 0.0
    start = 0
    ck_path = run_dir / "checkpoint.pt"
    if ck_path.exists():
        ck = _load_torch(ck_path)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and ck.get("scheduler"):
            sched.load_state_dict(ck["scheduler"])
        set_rng_state(ck["rng"], shuffle_gen)
        history, train_seconds, start = list(ck["history"]), float(ck["train_seconds"]), int(ck["epoch"])
        _write_metrics(run_dir, history)
        if start >= cfg.optim.epochs:
            log(f"{run_dir}: already finished ({start} epochs)")
            return _summary(run_dir, cfg, net, history, train_seconds, "finished")
        log(f"{run_dir}: resuming after epoch {start}")

    x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
    n = len(x_tr)
    bs = cfg.optim.batch_size
    n_batches = math.ceil(n / bs)
    end = cfg.optim.epochs if stop_after is None else min(cfg.optim.epochs, stop_after)
    epoch = start
    try:
        for epoch in range(start + 1, end + 1):
            t0 = time.perf_counter()
            net.train()
            perm = torch.randperm(n, generator=shuffle_gen).to(device)
            tot_loss = tot_ce = 0.0
            correct = 0
            with _progress(n_batches, f"epoch {epoch}/{cfg.optim.epochs}", progress) as bar:
                for b in range(n_batches):
                    idx = perm[b * bs:(b + 1) * bs]
                    xb, yb = x_tr[idx], y_tr[idx]
                    if cfg.dataset.augment and xb.ndim == 4:
                        xb = augment_images(xb.cpu()).to(device)
                    times = forward_all(net, xb)
                    parts = paper_loss(net, times, yb, cfg)
                    if not torch.isfinite(parts.total):
                        raise TrainingDiverged(
                            f"loss became {parts.total.item()} at epoch {epoch}, batch {b + 1}; training stopped, "
                            f"last good checkpoint (epoch {epoch - 1}) kept in {run_dir}; lower optim.lr or the "
                            f"loss weights and start a new run")
                    opt.zero_grad(set_to_none=True)
                    parts.total.backward()
                    opt.step()
                    clamp_weights(net)
                    k = len(idx)
                    tot_loss += parts.total.item() * k
                    tot_ce += parts.ce.item() * k
                    correct += int((predict(times[-1].detach(), cfg.n_classes) == yb).sum())
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{float(parts.total):.4f}", acc=f"{correct / min(n, (b + 1) * bs):.3f}")
            if sched is not None:
                sched.step()
            dt = time.perf_counter() - t0
            train_seconds += dt
            if epoch % cfg.eval_every == 0 or epoch == cfg.optim.epochs:
                test_acc = eval_net(net, cfg, data)
            else:
                test_acc = float("nan")
            row = {"epoch": epoch, "train_loss": tot_loss / n, "train_ce": tot_ce / n, "train_accuracy": correct / n,
                   "test_accuracy": test_acc, "epoch_seconds": round(dt, 4)}
            history.append(row)
            ck = {"epoch": epoch, "model": net.state_dict(), "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict() if sched is not None else None,
                  "rng": rng_state(shuffle_gen), "history": history, "train_seconds": train_seconds,
                  "config_name": cfg.name}
            ep_path = run_dir / "checkpoints" / f"epoch_{epoch:04d}.pt"
            _save_torch(ep_path, ck)
            _link_latest(ep_path, ck_path)
            if cfg.keep_checkpoints and epoch > cfg.keep_checkpoints:
                (run_dir / "checkpoints" / f"epoch_{epoch - cfg.keep_checkpoints:04d}.pt").unlink(missing_ok=True)
            every = max(1, cfg.optim.epochs // 20)
            if epoch % every == 0 or epoch in (1, end):
                _write_metrics(run_dir, history)  # also written on stop / interrupt / divergence / resume
                log(f"{cfg.name} epoch {epoch}/{cfg.optim.epochs} loss {row['train_loss']:.4f} "
                    f"train_acc {row['train_accuracy']:.4f} test_acc {test_acc:.4f} ({dt:.2f}s)")
    except KeyboardInterrupt:
        _write_metrics(run_dir, history)
        _summary(run_dir, cfg, net, history, train_seconds, "interrupted")
        raise
    except TrainingDiverged:
        _write_metrics(run_dir, history)
        _summary(run_dir, cfg, net, history, train_seconds, "diverged")
        raise
    _write_metrics(run_dir, history)
    status = "finished" if epoch >= cfg.optim.epochs else "stopped"
    return _summary(run_dir, cfg, net, history, train_seconds, status)


def run(config, out=None, sets=None, cell=None, progress: bool | None = None) -> tuple[Path, dict]:
    """Create a run directory and train it. Returns (run_dir, summary)."""
    run_dir = create_run(config, out, sets, cell)
    return run_dir, train(run_dir, progress=progress)


def resume(run_dir, progress: bool | None = None) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    return train(run_dir, progress=progress)


# ------------------------------------------------------------------------------------------------------- loading
def load_run(run_dir: str | Path, checkpoint: str | Path | None = None, with_cell: bool = True, **overrides):
    """Rebuild the trained SpikeNet of a run: returns (net (CPU, eval mode), TrainConfig, CellParams or None).

    `overrides` (steps=, sigma=, e_rev=) rebuild the layers with other settings and load the same weights.
    Per-layer weights: `imcpnn.train.layer_weights(net)`, in forward order, each (n_out, n_in[, kh, kw])."""
    from imcpnn.extract.cellparams import load_cell

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    ck_path = Path(checkpoint) if checkpoint else run_dir / "checkpoint.pt"
    if not ck_path.is_file():
        raise ConfigError(f"{run_dir}: no checkpoint yet ({ck_path.name}); train it with `imc-train resume {run_dir}`")
    ck = _load_torch(ck_path)
    shape = _input_shape(cfg)
    net = build_net(cfg, shape, **{k: v for k, v in overrides.items() if v is not None})
    try:
        net.load_state_dict(ck["model"])
    except (KeyError, TypeError, RuntimeError) as exc:  # a missing key, a foreign file, tensors of another shape
        what = f"no '{exc.args[0]}' entry" if isinstance(exc, KeyError) else str(exc).strip().splitlines()[-1][:160]
        raise ConfigError(f"{ck_path}: checkpoint does not match the run's config ({what})") from None
    net.eval()
    # with_cell=False: the caller brings its own cell, so a stale copy in the run must not stand in the way
    cell = load_cell(run_dir / "cell.json") if with_cell and (run_dir / "cell.json").is_file() else None
    return net, cfg, cell


def _input_shape(cfg: TrainConfig) -> tuple[int, ...]:
    name = cfg.dataset.name
    flat = cfg.model.arch == "mlp"
    if name == "file":  # the user's own features: as many inputs as the file has columns
        return load_dataset(cfg.dataset, flatten=True).input_shape
    if name == "iris":
        return (5,)
    if name == "digits":
        return (64,) if flat else (1, 8, 8)
    if name == "fashion_mnist":
        return (784,) if flat else (1, 28, 28)
    return (3072,) if flat else (3, 32, 32)


def eval_run(run_dir: str | Path, steps: int | None = None, sigma: float | None = None,
             e_rev: float | None = None, seed: int | None = None) -> dict:
    """Re-evaluate a run's test accuracy, optionally with another DSTD M, spike noise or symmetric |E|."""
    run_dir = Path(run_dir)
    net, cfg, _ = load_run(run_dir, e_rev=e_rev)
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    st = eval_settings(cfg, steps, sigma)
    set_eval_params(net, **st)
    steps_used, sigma_used = st["steps"], st["sigma"]
    device = pick_device(cfg.device)  # the run's configured device, as in training
    acc = evaluate(net.to(device), data.x_test, data.y_test, cfg, device=device, seed=seed)
    vals = neuron_values(cfg.neuron)
    return {"run_dir": str(run_dir), "test_accuracy": acc, "steps": steps_used, "sigma": sigma_used,
            "device": str(device),
            "e_plus": float(e_rev) if e_rev is not None else vals["e_plus"],
            "e_minus": -float(e_rev) if e_rev is not None else vals["e_minus"], "n_test": len(data.y_test)}

