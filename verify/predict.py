"""The model's prediction for the samples a circuit runs: the network's own forward pass (imcpnn.models), exact
solver, float64, no noise. There is no second forward pass here: the layers hold the physics (imcpnn.neuron)."""

from __future__ import annotations

import numpy as np
import torch

from imcpnn.models import mlp_from_weights
from imcpnn.neuron import NeuronModel


def model_times(weights: list[np.ndarray], inputs: np.ndarray, model: NeuronModel) -> list[np.ndarray]:
    """Per layer (n_samples, n_out) output spike times in model units (1 = no spike)."""
    net = mlp_from_weights(weights, model)
    with torch.no_grad():
        outs = net(torch.as_tensor(np.asarray(inputs, float), dtype=torch.float64), return_all=True)
    return [t.numpy().copy() for t in outs]


def membrane_trajectory(weights: list[np.ndarray], t_in: np.ndarray, model: NeuronModel, layer: int = -1,
                        n_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Membrane potential (normalised v) of every neuron of layer ``layer`` for one sample (``t_in`` the network's
    input times) over accumulation [0, 1] and firing [1, 2]: (times, (n_out, 2 n_points))."""
    net = mlp_from_weights(weights, model)
    x = torch.as_tensor(np.asarray(t_in, float), dtype=torch.float64)[None, :]
    layers = list(net.layers)
    idx = layer % len(layers)
    with torch.no_grad():
        for lay in layers[:idx]:
            x = lay(x)
        tau, v = layers[idx].trajectory(x, n_points)
    return tau.numpy(), v[0].numpy()
