"""The model's prediction for the samples a circuit runs: the exact solver, no noise (uses imcpnn.models)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from imcpnn.models.functional import fire_time, rcspike_exact, rcspike_trajectory


@dataclass(frozen=True)
class ModelParams:
    """Reversal potentials (normalised) of the model a network is checked against."""

    e_plus: float = math.inf
    e_minus: float = -math.inf
    e_dis: float = math.inf
    leak: float = 0.0
    alpha_dis: float | None = None  # measured firing phase (None / 1 / 0: the paper's ideal comparator)
    fire_threshold: float = 1.0
    t_min: float = 0.0
    beta_table: dict | None = None  # per-synapse beta(current) tables (models.functional.CurrentDependentBeta)
    kick_table: dict | None = None  # spike-line kicks vs w and turn-on delays per branch (CellParams.kicks fields)
    kick_table_neuron: dict | None = None  # the same for layers fed by neurons (CellParams.kicks_neuron; None: as 1st)

    @classmethod
    def from_cell(cls, cell, lambda_table: bool = True, kicks: bool = True) -> "ModelParams":
        """The bottom-up model of a cell: per-synapse reversal potentials from the lambda-vs-current tables (one E per
        sign with lambda_table=False), leak, measured firing phase and, when the cell has them, the spike-line kicks
        at the firing start and the branches' turn-on delays, for stimulus-fed and neuron-fed layers
        (docs/verification.md)."""
        return cls(cell.e_rev_plus, cell.e_rev_minus, cell.e_dis, cell.leak, cell.fire_alpha, cell.fire_threshold,
                   cell.fire_t_min, cell.lambda_tables() if lambda_table else None,
                   cell.kicks.tables() if kicks and cell.kicks is not None else None,
                   cell.kicks_neuron.tables() if kicks and cell.kicks_neuron is not None else None)

    def beta(self):
        from imcpnn.models.functional import CurrentDependentBeta

        return None if not self.beta_table else CurrentDependentBeta(**self.beta_table)

    def as_dict(self) -> dict[str, float | str | None]:
        out = {k: (v if v is None or math.isfinite(v) else str(v)) for k, v in self.__dict__.items()
               if k not in ("beta_table", "kick_table", "kick_table_neuron")}
        out["per_synapse_lambda"] = bool(self.beta_table)
        out["spike_line_kicks"] = bool(self.kick_table)
        return out

    def kicks_of(self, layer: int) -> dict | None:
        """The kick table of layer ``layer`` (0-based): the first layer is fed by the stimulus, the others by
        neurons (their own table when the cell has one)."""
        return self.kick_table if layer == 0 or not self.kick_table_neuron else self.kick_table_neuron

    def kick_fn(self, layer: int = 0):
        from imcpnn.models.functional import SpikeLineKick

        k = self.kicks_of(layer)
        return None if not k else SpikeLineKick.from_table(k)

    def kick(self, w: np.ndarray, t_in: np.ndarray, layer: int = 0) -> np.ndarray:
        """(samples, n_out) potential added at the firing start of layer ``layer`` by the synapses whose input
        arrived (t < 1)."""
        fn = self.kick_fn(layer)
        if fn is None:
            return np.zeros((len(t_in), w.shape[0]))
        with torch.no_grad():
            return fn.arrived(torch.as_tensor(np.asarray(t_in, float)), torch.as_tensor(np.asarray(w, float))).numpy()

    def delayed(self, w: np.ndarray, t_in: np.ndarray, layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(w', t') for the accumulation with each branch's turn-on delay: every input is split into its NMOS and
        PMOS synapses, (n_out, 2 n_in) weights [w+, w-] and (samples, 2 n_in) times [t + d_n, t + d_p] (a spike
        delayed past the end of accumulation delivers nothing, as in the circuit)."""
        w = np.asarray(w, float)
        t_in = np.asarray(t_in, float)
        k = self.kicks_of(layer)
        if not k or not (k.get("n_delay") or k.get("p_delay")):
            return w, t_in
        d_n, d_p = k.get("n_delay", 0.0), k.get("p_delay", 0.0)
        no = t_in >= 1.0
        tn = np.where(no, 1.0, np.minimum(t_in + d_n, 1.0))
        tp = np.where(no, 1.0, np.minimum(t_in + d_p, 1.0))
        return np.concatenate([np.clip(w, 0, None), np.clip(w, None, 0)], 1), np.concatenate([tn, tp], 1)


def model_times(weights: list[np.ndarray], inputs: np.ndarray, p: ModelParams) -> list[np.ndarray]:
    """Per layer (n_samples, n_out) output spike times in model units (1 = no spike)."""
    x = torch.as_tensor(np.asarray(inputs, float), dtype=torch.float64)
    out = []
    beta = p.beta()
    with torch.no_grad():
        for layer, w in enumerate(weights):
            wd, xd = p.delayed(w, x.numpy(), layer)
            v = rcspike_exact(torch.as_tensor(xd), torch.as_tensor(wd), p.e_plus, p.e_minus, p.leak, beta=beta)
            v = v + torch.as_tensor(p.kick(np.asarray(w, float), x.numpy(), layer=layer))
            x = fire_time(v, p.e_dis, p.alpha_dis, p.fire_threshold, p.t_min)
            out.append(x.numpy().copy())
    return out


def membrane_trajectory(w: np.ndarray, t_in: np.ndarray, p: ModelParams, n_points: int = 200,
                        layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Model membrane potential (normalised v) of every neuron of layer ``layer`` (0-based) for one sample over
    accumulation [0, 1] and firing [1, 2] (firing ramp dv/dt = alpha (1 - beta v); alpha = -ln(1-beta)/beta unless
    measured)."""
    tau = np.linspace(0.0, 1.0, n_points)
    wd, xd = p.delayed(w, t_in[None, :], layer)
    with torch.no_grad():
        v_acc = rcspike_trajectory(torch.as_tensor(xd, dtype=torch.float64),
                                   torch.as_tensor(wd), p.e_plus, p.e_minus, tau.tolist(),
                                   p.leak, beta=p.beta())[0].numpy()  # (n_out, n_points)
    v1 = v_acc[:, -1:] + p.kick(np.asarray(w, float), t_in[None, :], layer=layer).T
    if math.isinf(p.e_dis):
        v_fire = v1 + (p.alpha_dis or 1.0) * tau[None, :]
    else:
        b = 1.0 / p.e_dis
        a = p.alpha_dis if p.alpha_dis is not None else -math.log1p(-b) / b
        v_fire = (1.0 - (1.0 - b * v1) * np.exp(-a * b * tau[None, :])) / b
    return np.concatenate([tau, 1.0 + tau]), np.concatenate([v_acc, v_fire], axis=1)
