"""The circuit-measured firing phase (alpha_dis, threshold, t_min) against ODE integration, and its paper limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from imcpnn.models.functional import fire_time


def _ode_time(v0: float, a: float, b: float, theta: float) -> float:
    if v0 >= theta:
        return 0.0
    ev = lambda t, y: y[0] - theta  # noqa: E731
    ev.terminal, ev.direction = True, 1
    sol = solve_ivp(lambda t, y: [a * (1 - b * y[0])], (0, 1), [v0], events=ev, rtol=1e-11, atol=1e-12)
    return float(sol.t_events[0][0]) if sol.t_events[0].size else 1.0


@pytest.mark.parametrize("e_dis,a,theta,t_min", [(6.5, 1.05, 1.02, 0.0), (math.inf, 0.97, 1.0, 0.0),
                                                  (3.0, 1.3, 0.95, 0.007)])
def test_generalised_fire_time_matches_ode(e_dis, a, theta, t_min):
    b = 0.0 if math.isinf(e_dis) else 1 / e_dis
    v = torch.linspace(-0.6, 1.4, 41, dtype=torch.float64)
    got = fire_time(v, e_dis, a, theta, t_min).numpy()
    ref = np.clip([_ode_time(float(x), a, b, theta) for x in v], t_min, 1.0)
    np.testing.assert_allclose(got, ref, atol=1e-8)


def test_paper_limit_and_gradients():
    v = torch.linspace(-0.5, 1.5, 21, dtype=torch.float64, requires_grad=True)
    b = 1 / 6.44
    a = -math.log1p(-b) / b
    torch.testing.assert_close(fire_time(v, 6.44, a, 1.0, 0.0), fire_time(v, 6.44))
    assert torch.autograd.gradcheck(lambda x: fire_time(x, 6.44, 1.1, 1.03, 0.01), (v,))


def test_current_dependent_beta_reduces_to_scalar_e_and_is_differentiable():
    from imcpnn.models.functional import CurrentDependentBeta, rcspike_exact

    i_unit, v_th = 1e-7, 0.86
    cur = [1e-9, 1e-8, 1e-7, 1e-6]
    flat = CurrentDependentBeta(i_unit, v_th, cur, [0.4] * 4, cur, [0.7] * 4)
    rng = torch.Generator().manual_seed(0)
    t = torch.rand(6, 5, generator=rng, dtype=torch.float64)
    w = (torch.rand(3, 5, generator=rng, dtype=torch.float64) - 0.4) * 2
    ref = rcspike_exact(t, w, 1 / (v_th * 0.4), -1 / (v_th * 0.7))
    torch.testing.assert_close(rcspike_exact(t, w, beta=flat), ref)
    # lambda rising with current: a larger weight sees a larger beta (interpolated in log current)
    slope = CurrentDependentBeta(i_unit, v_th, cur, [0.3, 0.4, 0.5, 0.6], cur, [0.9, 0.8, 0.7, 0.6])
    b = slope(torch.tensor([0.1, 1.0, 10.0, -0.1, -1.0], dtype=torch.float64))
    torch.testing.assert_close(b, torch.tensor([0.4, 0.5, 0.6, -0.8, -0.7], dtype=torch.float64) * v_th)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda ww: rcspike_exact(t, ww, beta=slope), (w,))
