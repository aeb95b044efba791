"""A finished verification read back: its network, the model it was compared with, the SPICE spike times it wrote and
the settings it simulated with, so that other models can be measured against the same circuit without new SPICE.

Every file is checked against what the verification recorded (the cell's and the inputs' sha256) and the model is
checked against the verification's own predictions (spike_times.csv): a run retrained since, or another cell, is an
error, not a silently different table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imcpnn.cell import CellParams, load_cell
from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.train.config import file_sha256
from imcpnn.userfiles import load_csv_matrix
from imcpnn.verify.compare import verification_dir
from imcpnn.verify.flow import Network
from imcpnn.verify.mapping import Scales
from imcpnn.verify.predict import model_times
from imcpnn.verify.record import TEST_INPUTS_FILE, load_summary
from imcpnn.verify.sources import from_files, from_run, with_cell_kicks

# spike_times.csv holds times in T_circ units to 6 decimals
_CSV_TOL = 2e-6


@dataclass
class Verified:
    """net: the verified network (test inputs as simulated; calibration samples for a run); circuit: SPICE spike
    times per layer (model units); scales: the current scales the circuit was simulated at; options: the
    command-line options of the verification."""

    directory: Path
    summary: dict[str, Any]
    net: Network
    cell: CellParams
    circuit: list[np.ndarray]
    scales: Scales
    options: dict[str, Any]


def read_verification(path: str | Path, cell_path: str | Path | None = None,
                      weights: str | Path | None = None) -> Verified:
    """The verification in ``path`` (a verification directory, or a run directory with one in verify/). The cell is
    ``cell_path``, else the recorded one, else the run's own (its sha256 must be the recorded one); ``weights``
    stands in for a moved weights file of a ``--weights`` verification."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory (give a verification directory or a run directory)")
    vdir = verification_dir(path)
    summary = load_summary(vdir)
    record = summary.get("inputs")
    if not isinstance(record, dict) or not isinstance(record.get("options"), dict):
        raise ConfigError(f"{vdir}/summary.json does not record what the verification was made from; re-run "
                          f"`imc-verify run`")
    if summary["flow"] == "top-down":
        raise ConfigError(f"{vdir} is a top-down verification: the model ladder takes the bottom-up model apart, "
                          f"verify a bottom-up run (or --weights with a cell)")
    if not (isinstance(summary.get("layer_sizes"), list) and len(summary["layer_sizes"]) >= 2):
        raise ConfigError(f"{vdir}/summary.json has no layer_sizes; re-run `imc-verify run`")
    options = record["options"]
    x = _test_inputs(vdir, record)
    run_dir = _run_dir(path, vdir, options)
    cell = _cell(record, cell_path, run_dir)
    net = _network(vdir, options, cell, x, run_dir, weights, summary)
    t_model, circuit = read_spike_times(vdir, summary["layer_sizes"], len(x))
    predicted = model_times(net.weights, x, net.model)
    if any(np.abs(p - m).max() > _CSV_TOL for p, m in zip(predicted, t_model)):
        raise ConfigError(f"the network and model rebuilt from {net.source} do not reproduce the model times in "
                          f"{vdir}/spike_times.csv (retrained or changed since?); verify it again")
    if not options.get("kicks", True):  # the ladder's top is the full model: the cell's kicks back in
        net.model = _full_model(net, cell)
    return Verified(vdir, summary, net, cell, circuit, Scales(float(summary["scale"]["pos"]),
                                                             float(summary["scale"]["neg"])), options)


def _full_model(net: Network, cell: CellParams):
    if net.flow == "bottom-up":
        return with_cell_kicks(net, cell, True).model
    return NeuronModel.from_cell(cell, source=net.model.source)


def _test_inputs(vdir: Path, record: dict[str, Any]) -> np.ndarray:
    p = vdir / TEST_INPUTS_FILE
    if not p.is_file():
        raise ConfigError(f"{vdir} has no {TEST_INPUTS_FILE} (made by an older imc-pnn?); verify it again")
    if file_sha256(p) != record.get("test_inputs_sha256"):
        raise ConfigError(f"{p} is not the file the verification simulated (sha256 differs from its summary.json)")
    return load_csv_matrix(p, "test inputs")


def _run_dir(path: Path, vdir: Path, options: dict[str, Any]) -> Path | None:
    """The run a run-based verification came from: the directory given, else the verification's parent (a copied
    run keeps its verify/), else the recorded one."""
    if options.get("run_dir") is None:
        return None
    for cand in (path, vdir.parent, Path(options["run_dir"])):
        if cand != vdir and (cand / "model.json").is_file() and (cand / "config.yaml").is_file():
            return cand
    raise ConfigError(f"the run {options['run_dir']} that {vdir} verified is gone; give the run directory "
                      f"(with its verify/ inside)")


def _cell(record: dict[str, Any], cell_path: str | Path | None, run_dir: Path | None) -> CellParams:
    want = record.get("cell_sha256")
    if cell_path is not None:
        cands = [Path(cell_path)]
        if not cands[0].is_file():
            raise ConfigError(f"--cell {cell_path} not found")
    else:
        cands = [Path(record.get("cell_path", "")), *([run_dir / "cell.json"] if run_dir is not None else [])]
    for c in cands:
        if c.is_file() and file_sha256(c) == want:
            return load_cell(c)
    raise ConfigError(f"no cell.json with the sha256 the verification recorded ({str(want)[:16]}...) at "
                      f"{', '.join(str(c) for c in cands)}; pass --cell with the cell it was verified against")


def _network(vdir: Path, options: dict[str, Any], cell: CellParams, x: np.ndarray, run_dir: Path | None,
             weights: str | Path | None, summary: dict[str, Any]) -> Network:
    kicks = bool(options.get("kicks", True))
    if run_dir is None:
        w = weights if weights is not None else options.get("weights")
        if w is None or not Path(w).is_file():
            raise ConfigError(f"the weights file {w} that {vdir} verified is not found; pass --weights FILE")
        net = from_files(w, vdir / TEST_INPUTS_FILE, cell, kicks=kicks)
    else:
        # the same seeded draw of calibration samples as the verification's
        net, _ = from_run(run_dir, len(x), int(options.get("n_cal") or summary["n_calibration"]), with_cell=False)
        with_cell_kicks(net, cell, kicks)
    net.test_inputs = x
    if net.test_labels is not None:
        net.test_labels = net.test_labels[:len(x)]
    return net


def read_spike_times(vdir: Path, sizes: list[int], n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(model, SPICE) spike times per layer, (n_samples, n_out) each, from spike_times.csv."""
    rows = load_csv_matrix(vdir / "spike_times.csv", "spike times", skiprows=1)
    model = [np.full((n, k), np.nan) for k in sizes[1:]]
    spice = [np.full((n, k), np.nan) for k in sizes[1:]]
    if rows.shape[1] < 5 or rows[:, :3].min() < 0 or rows[:, 1].min() < 1:
        raise ConfigError(f"{vdir}/spike_times.csv: not the spike-time table of a verification")
    try:
        for s, layer, i, tm, ts in rows[:, :5]:
            model[int(layer) - 1][int(s), int(i)] = tm
            spice[int(layer) - 1][int(s), int(i)] = ts
    except IndexError:
        raise ConfigError(f"{vdir}/spike_times.csv does not match the network of its summary.json") from None
    if any(np.isnan(a).any() for a in model + spice):
        raise ConfigError(f"{vdir}/spike_times.csv is incomplete (a sample, layer or neuron is missing)")
    return model, spice
