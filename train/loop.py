"""Run directories, the training loop, checkpoints with exact resume, evaluation.

Run directory (docs/architecture.md):
    config.yaml          the validated config, overrides applied (as given: `from: cell.json` stays a reference)
    model.json           the neuron-model record (imcpnn.neuron.NeuronModel) every forward pass of the run uses
    run.json             what the run was made from (train/record.py): config, overrides, cell path and sha256
    cell.json            copy of the CellParams used (only when the config took its model from a cell)
    checkpoint.pt        the latest checkpoint (an independent copy of the newest checkpoints/epoch_NNNN.pt)
    checkpoints/epoch_NNNN.pt
    .lock                flock held by the process that trains the run
    metrics.csv          one row per finished epoch
    summary.json         test_accuracy, train_seconds, parameters, status
A checkpoint is a torch.save dict: epoch, model (state_dict of the SpikeNet; RC layer i's weight is
`layers.<i>.weight`, shape (n_out, n_in)), optimizer, rng (torch, numpy, python, shuffle generator, cuda), history,
train_seconds. Every write is atomic and an epoch counts as done only once it is checkpointed, so Ctrl-C or a crash
leaves the last finished epoch resumable.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import math
import pickle
import random
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from imcpnn import __version__
from imcpnn.atomic import atomic_create_bytes, atomic_write_bytes, atomic_write_json, atomic_write_text
from imcpnn.errors import ConfigError, ImcError
from imcpnn.cell import CellParams, load_cell
from imcpnn.neuron import NeuronModel
from imcpnn.train.config import (TrainConfig, file_sha256, load_config_cell, load_config_dict, neuron_model,
                                 resolve_dataset_path, validate_config, validate_with_overrides)
from imcpnn.train.data import DataBundle, augment_images, load_dataset
from imcpnn.train.record import RUN_FILE, RUN_SCHEMA_VERSION, RunInputs
from imcpnn.train.net import auto_init_shift, build_net, clamp_weights, forward_all, paper_loss, predict, set_eval_params
from imcpnn.train.variation import (CELLS_DIR, VariationTraining, accuracy_stats, cell_records, config_cells, draw,
                                    generator, nominal, resolve_sigmas, setup_training, variation_section)

METRIC_FIELDS = ["epoch", "train_loss", "train_ce", "train_accuracy", "test_accuracy", "epoch_seconds"]
EVAL_SEED_OFFSET = 1_000_003
MODEL_FILE = "model.json"


#: training samples the 'auto' init shift is measured on (the first ones of the seeded split)
AUTO_INIT_SAMPLES = 256


class TrainingDiverged(ImcError):
    """The loss became NaN or infinite, or stayed far above any loss a learning run has (see `divergence`)."""


#: Divergence rule. Cross-entropy at chance is ln(n_classes); a healthy run starts within a small factor of it (iris
#: 3x, digits 5x at init) and its regularisers are bounded, so a mean epoch loss LOSS_VS_CHANCE times above chance
#: means blown-up weights (lr=1e6 on iris-topdown: 2.5e11 ~ 2e11 x chance), and a loss LOSS_VS_FIRST times its
#: first-epoch value means a run that started sane and then blew up. One bad epoch can recover (Adam after a
#: spike), so the rule needs DIVERGED_EPOCHS such epochs in a row, or a bad final epoch (a run never ends
#: "finished" in that state).
LOSS_VS_CHANCE = 1000.0
LOSS_VS_FIRST = 100.0
DIVERGED_EPOCHS = 3


def divergence(history: list[dict], n_classes: int, final: bool) -> str | None:
    """Why the run counts as diverged (one line), or None."""
    bound = min(LOSS_VS_CHANCE * math.log(max(2, n_classes)), LOSS_VS_FIRST * history[0]["train_loss"])
    need = 1 if final else DIVERGED_EPOCHS
    recent = history[-need:]
    if len(recent) < need or not all(h["train_loss"] > bound for h in recent):
        return None
    return (f"training diverged: mean train loss {recent[-1]['train_loss']:.3g} at epoch {recent[-1]['epoch']} "
            f"stayed above {bound:.3g} (min of {LOSS_VS_CHANCE:g} x ln({n_classes}) and {LOSS_VS_FIRST:g} x the "
            f"first epoch's) for {len(recent)} epoch(s)")


class CheckpointRefused(ConfigError):
    """A checkpoint that asks to run code when loaded: refused outright, never replaced by another file quietly."""


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
    """Every RNG state as tensors, numbers, strings and tuples: what `torch.load(weights_only=True)` reads back."""
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    st = {"torch": torch.get_rng_state(),
          "numpy": (np_name, torch.from_numpy(np_key.astype(np.int64)), int(np_pos), int(np_has_gauss),
                    float(np_gauss)),
          "python": random.getstate(), "shuffle": shuffle_gen.get_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict, shuffle_gen: torch.Generator) -> None:
    torch.set_rng_state(st["torch"])
    np_name, np_key, *rest = st["numpy"]
    np.random.set_state((np_name, np.asarray(np_key, dtype=np.int64).astype(np.uint32), *rest))
    random.setstate(st["python"])
    shuffle_gen.set_state(st["shuffle"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


# Checkpoints written before the RNG state was stored as tensors hold numpy's uint32 key array; rebuilding a plain
# numeric array runs no code, so these stay loadable.
_LEGACY_NUMPY_GLOBALS = [np.ndarray.__reduce__(np.zeros(1))[0], np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _load_torch(path: Path):
    """Read a checkpoint without running code from it: torch's weights-only unpickler builds only tensors and plain
    containers and refuses every other global, so a crafted file is an error, never a payload that runs."""
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL " not in str(exc):  # not a request for a function or class: a damaged file
            raise ConfigError(f"{path}: cannot read checkpoint (UnpicklingError); the file is damaged") from None
        what = str(exc).split("GLOBAL ", 1)[1].split(" ", 1)[0]
        raise CheckpointRefused(f"{path}: refused: the checkpoint asks to run {what} when loaded, which a checkpoint "
                                f"never needs; do not use it") from None
    except OSError as exc:  # permissions, a directory, an I/O error: the file may be fine
        raise ConfigError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{path}: cannot read checkpoint ({type(exc).__name__}); the file is damaged") from None


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
def make_config(config: str | Path | dict, sets: list[str] | dict | None = None,
                cell: str | Path | None = None) -> tuple[TrainConfig, NeuronModel, CellParams | None, Path | None]:
    """Load (name, path or dict), apply overrides, validate, and build the neuron-model record (from the cell for
    `from: cell.json`). Returns (TrainConfig, NeuronModel, CellParams or None, cell path or None)."""
    if isinstance(config, dict):
        data, path, where = config, None, "config"
    else:
        data, path = load_config_dict(config)
        where = str(path)
    cfg = resolve_dataset_path(validate_with_overrides(data, sets, where), path)
    if cfg.dataset.name == "file":
        load_dataset(cfg.dataset, flatten=True)  # the user's file: its defects are one line before a run dir exists
    cell, cell_path = load_config_cell(cfg, cell, path)
    source = "" if cell_path is None else f"{cell_path.name} sha256:{file_sha256(cell_path)[:16]}"
    if cfg.variation is not None:  # its defects are one line before a run directory exists
        resolve_sigmas(cfg.variation, cell)
        cells = [str(p) for p in config_cells(cfg, path)]
        cfg = cfg.model_copy(update={"variation": cfg.variation.model_copy(update={"cells": cells})})
    return cfg, neuron_model(cfg, cell, source), cell, cell_path


def load_run_config(run_dir: Path) -> TrainConfig:
    p = run_dir / "config.yaml"
    if not p.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml); start one with `imc-train run`")
    data, _ = load_config_dict(p)
    return validate_config(data, str(p))


# ------------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(net, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, device=None, batch_size: int = 1000,
             seed: int | None = None, forward=forward_all) -> float:
    """Accuracy on (x, y). Randomness inside the model (random DSTD offset, spike noise) is drawn from a private RNG
    seeded with `seed` (default: config seed + a constant), so an evaluation is repeatable and does not disturb the
    training RNG. `forward(net, x)` gives every layer's times (a sampled instance's: train/variation.py)."""
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
            t_out = forward(net, xb)[-1]
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
@contextmanager
def run_lock(run_dir: Path):
    """Hold the run directory's lock (`.lock`, flock): one process trains a run at a time. Released on exit, also
    when the process dies."""
    fh = open(run_dir / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise RunExists(f"{run_dir} is being trained by another process; wait for it or pick another --out") \
                from None
        yield
    finally:
        fh.close()


def _new_run(config, out, sets, cell) -> tuple[Path, bool]:
    """Validate, then claim a new run directory. Returns (path, whether this call created the directory)."""
    cfg, model, _, cell_path = make_config(config, sets, cell)
    pick_device(cfg.device)  # a bad device fails here, before anything is written
    if out is None:
        out = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(out)
    exists = RunExists(f"{out} already holds a run; continue it with `imc-train resume {out}` or pick another --out")
    if _has_checkpoint(out):
        raise exists
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        out.mkdir()
        made = True
    except FileExistsError:
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory") from None
        made = False
    try:
        atomic_create_bytes(out / "config.yaml", cfg.to_yaml().encode("utf-8"))
    except FileExistsError:
        raise exists from None
    model.save(out / MODEL_FILE)
    extra = _save_extra_cells(out, cfg)
    RunInputs(config="<dict>" if isinstance(config, dict) else str(config), overrides=_override_list(sets),
              cell_path=None if cell_path is None else str(Path(cell_path).resolve()),
              cell_sha256=None if cell_path is None else file_sha256(cell_path), extra_cells=extra,
              tool_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%S%z")).save(out)
    if cell_path is not None:
        atomic_write_bytes(out / "cell.json", Path(cell_path).read_bytes())
    return out, made


def _save_extra_cells(out: Path, cfg: TrainConfig) -> list[dict]:
    """Copy `variation.cells` into the run (cells/cell_<k>.json, with the model.json each gives) and return their
    paths and sha256 for run.json."""
    rows = []
    for k, path in enumerate(cfg.variation.cells if cfg.variation is not None else [], start=1):
        data, sha = Path(path).read_bytes(), file_sha256(path)
        neuron_model(cfg, load_cell(path), f"{Path(path).name} sha256:{sha[:16]}").save(
            out / CELLS_DIR / f"model_{k}.json")
        atomic_write_bytes(out / CELLS_DIR / f"cell_{k}.json", data)
        rows.append({"path": str(path), "sha256": sha})
    return rows


def create_run(config, out: str | Path | None = None, sets=None, cell=None) -> Path:
    """Validate the config and write a new run directory (config.yaml, model.json, run.json, cell.json). Returns its
    path.
    Exactly one of several concurrent calls with the same `out` succeeds."""
    return _new_run(config, out, sets, cell)[0]


def _epoch_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob("epoch_[0-9][0-9][0-9][0-9].pt"), reverse=True)


def _has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoint.pt").exists() or bool(_epoch_files(run_dir))


def _discard_untrained(run_dir: Path, made: bool) -> None:
    """Remove what a run that never finished an epoch wrote, so that the same command can simply be run again."""
    if made:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        for name in ("config.yaml", MODEL_FILE, RUN_FILE, "cell.json", "metrics.csv", "summary.json", ".lock"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / CELLS_DIR, ignore_errors=True)
        try:
            (run_dir / "checkpoints").rmdir()
        except OSError:
            pass
    log(f"removed the run in {run_dir}: it never finished an epoch")


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
    s = {
        "schema_version": RUN_SCHEMA_VERSION,
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
            **NeuronModel.load(run_dir / MODEL_FILE).describe(),
            "solver": cfg.neuron.solver, "steps": cfg.neuron.steps,
            "steps_test": cfg.neuron.steps_test or cfg.neuron.steps, "sigma_test": cfg.neuron.sigma_test or 0.0,
            "eval_offset": cfg.neuron.eval_offset,
            "offset": cfg.neuron.offset, "sigma": cfg.neuron.sigma,
            "lr": cfg.optim.lr, "batch_size": cfg.optim.batch_size,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
        },
    }
    if (run_dir / RUN_FILE).is_file():
        s["inputs"] = RunInputs.load(run_dir).to_dict()
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
@dataclass
class _Trainer:
    """Everything one training session carries; `history`, `train_seconds` and `done` describe the last checkpoint."""

    run_dir: Path
    cfg: TrainConfig
    device: torch.device
    data: DataBundle
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: object
    shuffle_gen: torch.Generator
    history: list
    train_seconds: float = 0.0
    done: int = 0
    variation: VariationTraining | None = None


def _setup(run_dir: Path, cfg: TrainConfig) -> _Trainer:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    if data.n_classes > cfg.n_classes:
        raise ConfigError(f"dataset {data.name} has {data.n_classes} classes but the model has {cfg.n_classes} "
                          f"class outputs; set model.n_classes / the last layer size")
    model = NeuronModel.load(run_dir / MODEL_FILE)
    net = build_net(cfg, data.input_shape, model).to(device)
    if cfg.model.init_shift == "auto":  # a resumed run then loads its checkpoint over this
        auto_init_shift(net, data.x_train[:AUTO_INIT_SAMPLES].to(device))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.optim.epochs)
             if cfg.optim.lr_schedule == "cosine" else None)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed + 1)
    variation = setup_training(run_dir, cfg, data.input_shape, model, len(data.y_train))
    return _Trainer(run_dir, cfg, device, data, net, opt, sched, shuffle_gen, [], variation=variation)


def _read_checkpoint(path: Path) -> dict | None:
    """The checkpoint in `path`, or None when it is missing or damaged."""
    if not path.is_file():
        return None
    try:
        ck = _load_torch(path)
    except CheckpointRefused:
        raise
    except ImcError:
        return None
    return ck if isinstance(ck, dict) and isinstance(ck.get("epoch"), int) else None


def _newest_checkpoint(run_dir: Path) -> tuple[dict, Path] | None:
    """The readable checkpoint with the most epochs: checkpoint.pt, or a newer or intact checkpoints/epoch_NNNN.pt
    (newest first, so usually one or two files are read). None when there is no checkpoint file at all."""
    latest = run_dir / "checkpoint.pt"
    best = _read_checkpoint(latest)
    found = None if best is None else (best, latest)
    for path in _epoch_files(run_dir):
        if found is not None and int(path.stem[6:]) <= found[0]["epoch"]:
            break
        ck = _read_checkpoint(path)
        if ck is not None:
            found = (ck, path)
            break
    if found is None and _has_checkpoint(run_dir):
        raise ConfigError(f"{run_dir}: no readable checkpoint (checkpoint.pt and every checkpoints/epoch_NNNN.pt are "
                          f"missing or damaged); move them aside to train this run from epoch 1")
    return found


def _restore(tr: _Trainer) -> None:
    """Continue from the newest readable checkpoint, saying which one; a run with recorded epochs but no checkpoint
    left is refused rather than silently trained again from epoch 1."""
    found = _newest_checkpoint(tr.run_dir)
    if found is None:
        if (tr.run_dir / "metrics.csv").is_file() and len((tr.run_dir / "metrics.csv").read_text().splitlines()) > 1:
            raise ConfigError(f"{tr.run_dir}: metrics.csv records finished epochs but no checkpoint is left; "
                              f"start a new run (or remove metrics.csv to train this one again from epoch 1)")
        return
    ck, path = found
    tr.net.load_state_dict(ck["model"])
    tr.opt.load_state_dict(ck["optimizer"])
    if tr.sched is not None and ck.get("scheduler"):
        tr.sched.load_state_dict(ck["scheduler"])
    set_rng_state(ck["rng"], tr.shuffle_gen)
    tr.history, tr.train_seconds, tr.done = list(ck["history"]), float(ck["train_seconds"]), int(ck["epoch"])
    _write_metrics(tr.run_dir, tr.history)
    if path.name != "checkpoint.pt":
        latest = _read_checkpoint(tr.run_dir / "checkpoint.pt")
        why = ("missing" if not (tr.run_dir / "checkpoint.pt").exists() else
               "damaged" if latest is None else f"older (epoch {latest['epoch']})")
        atomic_write_bytes(tr.run_dir / "checkpoint.pt", path.read_bytes())
        log(f"{tr.run_dir}: checkpoint.pt was {why}; restored it from {path.relative_to(tr.run_dir)}")
    if tr.done < tr.cfg.optim.epochs:
        log(f"{tr.run_dir}: resuming after epoch {tr.done} from {path.relative_to(tr.run_dir)}")


def _batches(tr: _Trainer, x_tr: torch.Tensor, y_tr: torch.Tensor, epoch: int, progress) -> tuple[float, float, int]:
    """One pass over the shuffled training set; returns (summed loss, summed cross-entropy, correct)."""
    cfg, net, n, bs = tr.cfg, tr.net, len(x_tr), tr.cfg.optim.batch_size
    n_batches = math.ceil(n / bs)
    perm = torch.randperm(n, generator=tr.shuffle_gen).to(tr.device)
    tot_loss = tot_ce = 0.0
    correct = 0
    with _progress(n_batches, f"epoch {epoch}/{cfg.optim.epochs}", progress) as bar:
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            xb, yb = x_tr[idx], y_tr[idx]
            if cfg.dataset.augment and xb.ndim == 4:
                xb = augment_images(xb.cpu()).to(tr.device)
            times = forward_all(net, xb) if tr.variation is None else tr.variation.forward(net, xb, epoch, b)
            parts = paper_loss(net, times, yb, cfg, inputs=xb)
            if not torch.isfinite(parts.total):
                kept = f"last good checkpoint (epoch {tr.done}) kept" if tr.done else "no epoch was checkpointed"
                raise TrainingDiverged(f"loss became {parts.total.item()} at epoch {epoch}, batch {b + 1}; training "
                                       f"stopped, {kept} in {tr.run_dir}; lower optim.lr or the loss weights and "
                                       f"start a new run")
            tr.opt.zero_grad(set_to_none=True)
            parts.total.backward()
            tr.opt.step()
            clamp_weights(net)
            k = len(idx)
            tot_loss += parts.total.item() * k
            tot_ce += parts.ce.item() * k
            correct += int((predict(times[-1].detach(), cfg.n_classes) == yb).sum())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(parts.total):.4f}", acc=f"{correct / min(n, (b + 1) * bs):.3f}")
    return tot_loss, tot_ce, correct


def _run_epoch(tr: _Trainer, x_tr: torch.Tensor, y_tr: torch.Tensor, epoch: int, progress) -> dict:
    """Train one epoch and evaluate; returns its metrics row (not yet in the history: that follows the checkpoint)."""
    t0 = time.perf_counter()
    tr.net.train()
    tot_loss, tot_ce, correct = _batches(tr, x_tr, y_tr, epoch, progress)
    if tr.sched is not None:
        tr.sched.step()
    dt = time.perf_counter() - t0
    cfg, n = tr.cfg, len(x_tr)
    test_acc = (eval_net(tr.net, cfg, tr.data) if epoch % cfg.eval_every == 0 or epoch == cfg.optim.epochs
                else float("nan"))
    return {"epoch": epoch, "train_loss": tot_loss / n, "train_ce": tot_ce / n, "train_accuracy": correct / n,
            "test_accuracy": test_acc, "epoch_seconds": round(dt, 4)}


def _save_checkpoint(tr: _Trainer, row: dict) -> None:
    """Write the epoch checkpoint and checkpoint.pt as two independent files (damage to one leaves the other), and
    only then count the epoch as done: history, metrics and summary never run ahead of the checkpoint."""
    epoch, history, seconds = row["epoch"], tr.history + [row], tr.train_seconds + row["epoch_seconds"]
    ck = {"epoch": epoch, "model": tr.net.state_dict(), "optimizer": tr.opt.state_dict(),
          "scheduler": tr.sched.state_dict() if tr.sched is not None else None,
          "rng": rng_state(tr.shuffle_gen), "history": history, "train_seconds": seconds,
          "config_name": tr.cfg.name}
    buf = io.BytesIO()
    torch.save(ck, buf)
    ck_dir = tr.run_dir / "checkpoints"
    atomic_write_bytes(ck_dir / f"epoch_{epoch:04d}.pt", buf.getvalue())
    atomic_write_bytes(tr.run_dir / "checkpoint.pt", buf.getvalue())
    tr.history, tr.train_seconds, tr.done = history, seconds, epoch
    keep = tr.cfg.keep_checkpoints
    if keep and epoch > keep:
        (ck_dir / f"epoch_{epoch - keep:04d}.pt").unlink(missing_ok=True)


def _report(tr: _Trainer, row: dict, end: int) -> None:
    cfg, epoch = tr.cfg, row["epoch"]
    if epoch % max(1, cfg.optim.epochs // 20) == 0 or epoch in (1, end):
        _write_metrics(tr.run_dir, tr.history)  # also written on stop / interrupt / divergence / resume
        log(f"{cfg.name} epoch {epoch}/{cfg.optim.epochs} loss {row['train_loss']:.4f} "
            f"train_acc {row['train_accuracy']:.4f} test_acc {row['test_accuracy']:.4f} ({row['epoch_seconds']:.2f}s)")


def _fit(run_dir: Path, cfg: TrainConfig, progress: bool | None, stop_after: int | None) -> dict:
    """Train the (locked) run to its configured epochs or `stop_after`; returns the summary dict."""
    tr = _setup(run_dir, cfg)
    _restore(tr)

    def summary(status: str) -> dict:
        _write_metrics(run_dir, tr.history)
        return _summary(run_dir, cfg, tr.net, tr.history, tr.train_seconds, status)

    if tr.done >= cfg.optim.epochs:
        log(f"{run_dir}: already finished ({tr.done} epochs)")
        return summary("finished")
    x_tr, y_tr = tr.data.x_train.to(tr.device), tr.data.y_train.to(tr.device)
    end = cfg.optim.epochs if stop_after is None else min(cfg.optim.epochs, stop_after)
    try:
        for epoch in range(tr.done + 1, end + 1):
            row = _run_epoch(tr, x_tr, y_tr, epoch, progress)
            why = divergence(tr.history + [row], cfg.n_classes, final=epoch == end)
            if why:
                raise TrainingDiverged(f"{why}; training stopped, last checkpoint (epoch {tr.done}) kept in {run_dir}; "
                                       f"lower optim.lr and start a new run")
            _save_checkpoint(tr, row)
            _report(tr, row, end)
    except KeyboardInterrupt:
        summary("interrupted")
        log(f"interrupted: epoch {tr.done} is the last checkpointed one; continue with `imc-train resume {run_dir}`"
            if tr.done else "interrupted before the first epoch finished: nothing was checkpointed")
        raise
    except TrainingDiverged:
        summary("diverged")
        raise
    return summary("finished" if tr.done >= cfg.optim.epochs else "stopped")


def train(run_dir: str | Path, progress: bool | None = None, stop_after: int | None = None) -> dict:
    """Train (or continue) the run in `run_dir` to its configured epochs; returns the summary dict.

    Continues from the newest readable checkpoint (checkpoint.pt, else checkpoints/epoch_NNNN.pt), restoring model,
    optimizer, all RNG states and the history, so the result is bit-identical to an uninterrupted run on CPU.
    `stop_after` stops after that many epochs in total (used to test resume). Holds the run's lock throughout."""
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    with run_lock(run_dir):
        return _fit(run_dir, cfg, progress, stop_after)


def run(config, out=None, sets=None, cell=None, progress: bool | None = None) -> tuple[Path, dict]:
    """Create a run directory and train it. Returns (run_dir, summary). A run that fails or is interrupted before
    its first checkpoint is removed again, so the same command can be repeated."""
    run_dir, made = _new_run(config, out, sets, cell)
    log(f"run directory: {run_dir}")
    with run_lock(run_dir):
        try:
            return run_dir, _fit(run_dir, load_run_config(run_dir), progress, None)
        except BaseException:
            if not _has_checkpoint(run_dir):
                _discard_untrained(run_dir, made)
            raise


def resume(run_dir, progress: bool | None = None) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    return train(run_dir, progress=progress)


# ------------------------------------------------------------------------------------------------------- loading
@dataclass
class Run:
    """A trained run: its network (CPU, eval mode), config, neuron-model record and cell (None for top-down)."""

    net: torch.nn.Module
    config: TrainConfig
    model: NeuronModel
    cell: CellParams | None
    path: Path


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None, with_cell: bool = True,
             **overrides) -> Run:
    """Rebuild the trained SpikeNet of a run from its model.json and checkpoint.

    `overrides` (steps=, sigma=, e_rev=) rebuild the layers with other settings and load the same weights.
    Per-layer weights: `imcpnn.train.layer_weights(run.net)`, in forward order, each (n_out, n_in[, kh, kw])."""
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    model = NeuronModel.load(run_dir / MODEL_FILE)
    ck_path = Path(checkpoint) if checkpoint else run_dir / "checkpoint.pt"
    if checkpoint is None and _read_checkpoint(ck_path) is None and _epoch_files(run_dir):
        state = "damaged" if ck_path.exists() else "missing"
        raise ConfigError(f"{ck_path} is {state}; `imc-train resume {run_dir}` restores it from the newest intact "
                          f"checkpoints/epoch_NNNN.pt")
    if not ck_path.is_file():
        raise ConfigError(f"{run_dir}: no checkpoint yet ({ck_path.name}); train it with `imc-train resume {run_dir}`")
    ck = _load_torch(ck_path)
    net = build_net(cfg, _input_shape(cfg), model, **{k: v for k, v in overrides.items() if v is not None})
    try:
        net.load_state_dict(ck["model"])
    except (KeyError, TypeError, RuntimeError) as exc:  # a missing key, a foreign file, tensors of another shape
        what = f"no '{exc.args[0]}' entry" if isinstance(exc, KeyError) else str(exc).strip().splitlines()[-1][:160]
        raise ConfigError(f"{ck_path}: checkpoint does not match the run's config ({what})") from None
    net.eval()
    # with_cell=False: the caller brings its own cell, so a stale copy in the run must not stand in the way
    cell = load_cell(run_dir / "cell.json") if with_cell and (run_dir / "cell.json").is_file() else None
    return Run(net, cfg, model, cell, run_dir)


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
             e_rev: float | None = None, seed: int | None = None, variation: int | None = None,
             variation_seed: int = 0, variation_config: str | None = None) -> dict:
    """Re-evaluate a run's test accuracy, optionally with another DSTD M, spike noise or symmetric |E|; per cell
    when the run trained on several, and over `variation` sampled instances (seeded by `variation_seed`) of the run's
    variation section or of `variation_config`'s."""
    run_dir = Path(run_dir)
    if e_rev is not None and (variation or (run_dir / CELLS_DIR).is_dir()):
        raise ConfigError("--e-rev replaces the cell's physics; it does not combine with --variation or a run "
                          "trained on several cells")
    loaded = load_run(run_dir, e_rev=e_rev)
    net, cfg = loaded.net, loaded.config
    data = load_dataset(cfg.dataset, flatten=cfg.model.arch == "mlp")
    st = eval_settings(cfg, steps, sigma)
    set_eval_params(net, **st)
    steps_used, sigma_used = st["steps"], st["sigma"]
    device = pick_device(cfg.device)  # the run's configured device, as in training
    acc = evaluate(net.to(device), data.x_test, data.y_test, cfg, device=device, seed=seed)
    res = {"run_dir": str(run_dir), "test_accuracy": acc, "steps": steps_used, "sigma": sigma_used,
           "device": str(device),
           "e_plus": net.layers[0].e_plus if hasattr(net, "layers") else None,
           "e_minus": net.layers[0].e_minus if hasattr(net, "layers") else None, "n_test": len(data.y_test)}
    if variation or (run_dir / CELLS_DIR).is_dir():
        res["cells"] = _eval_cells(loaded, data, device, seed, variation or 0, variation_seed, variation_config)
    return res


def _eval_cells(loaded: Run, data: DataBundle, device, seed, n: int, vseed: int, source: str | None) -> list[dict]:
    """Per cell of the run, its own first: the nominal test accuracy and, for n > 0, the accuracy over n sampled
    instances (instance i drawn from generator(vseed, i), the same mismatch on every cell)."""
    cfg, net = loaded.config, loaded.net
    sig = resolve_sigmas(variation_section(cfg, source), loaded.cell) if n else None
    rows = []
    for name, recs in cell_records(loaded.path, cfg, data.input_shape, loaded.model):
        def acc(inst) -> float:
            return evaluate(net, data.x_test, data.y_test, cfg, device=device, seed=seed, forward=inst.forward)

        row = {"cell": name, "test_accuracy": acc(nominal(recs))}
        if n:
            accs = [acc(draw(net, sig, generator(vseed, i), recs)) for i in range(n)]
            row["variation"] = {"n": n, "seed": vseed, **accuracy_stats(accs)}
        rows.append(row)
    return rows

