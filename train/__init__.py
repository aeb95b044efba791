"""imcpnn.train: datasets, configs, the training loop, checkpoints and exact resume, sweeps over E.

Python API for other stages:
    run(config, out=None, sets=None, cell=None) -> (run_dir, summary)   train a config (name, path or dict)
    resume(run_dir) -> summary                                         continue a run exactly
    load_run(run_dir, steps=None, sigma=None, e_rev=None) -> Run   the trained SpikeNet, its config, model, cell
    layer_weights(net) -> [tensor (n_out, n_in[, kh, kw]), ...]       per-layer weights in forward order
    eval_run(run_dir, steps=None, sigma=None, e_rev=None) -> dict       re-evaluate the test accuracy
    data.iris_split(seed) -> (x_train, y_train, x_test, y_test)         Iris spike times incl. the bias spike (col 4)
    run_sweep(config, "e_rev=1,2,4,8,inf", seeds=3, jobs=2, out=DIR)    grid + table + plot
"""

from imcpnn.train import data
from imcpnn.train.config import TrainConfig, neuron_model, resolve_config_path, shipped_configs
from imcpnn.train.loop import (Run, TrainingDiverged, create_run, eval_run, evaluate, load_run, make_config, resume, run,
                               train)
from imcpnn.train.net import build_net, layer_weights, paper_loss, predict
from imcpnn.train.sweep import run_sweep

__all__ = ["data", "TrainConfig", "neuron_model", "resolve_config_path", "shipped_configs", "TrainingDiverged",
           "create_run", "eval_run", "evaluate", "load_run", "make_config", "resume", "run", "train", "build_net",
           "layer_weights", "paper_loss", "predict", "run_sweep", "Run"]
