"""imcpnn.laws against closed forms, and its firing law against the torch twin models.functional.fire_time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from imcpnn.laws import FiringLaw, first_crossing, interp_in_log, interp_of_log, rising_crossing
from imcpnn.models.functional import fire_time

LAWS = [FiringLaw(1.07, 1 / 6.5, 1.02, 0.03), FiringLaw(0.9, 0.0, 0.98, 0.05), FiringLaw(1.2, -1 / 4.0, 1.0, 0.0)]


@pytest.mark.parametrize("law", LAWS)
def test_fire_potential_inverts_the_ramp(law):
    v = np.linspace(-0.8, law.threshold, 401)
    np.testing.assert_allclose(law.fire_potential(law.ramp_time(v)), v, rtol=0, atol=1e-12)
    t = np.linspace(law.t_min, 1.0, 301)
    np.testing.assert_allclose(law.fire_time(law.fire_potential(t)), t, rtol=0, atol=1e-12)


def test_ramp_solves_its_ode():
    """The ramp dv/dt = a (1 - b v) started at v reaches theta at the law's time (closed-form solution)."""
    law = FiringLaw(1.07, 1 / 6.5, 1.02, 0.0)
    v = np.array([-0.3, 0.0, 0.4, 0.9])
    t = law.ramp_time(v)
    reached = (1 - (1 - law.beta * v) * np.exp(-law.alpha * law.beta * t)) / law.beta
    np.testing.assert_allclose(reached, law.threshold, rtol=0, atol=1e-12)
    assert law.fire_time(2.0) == law.t_min == 0.0 and law.fire_time(-5.0) == 1.0


def test_from_cell_paper_alpha_and_ideal_ramp():
    b = 1 / 6.44
    assert FiringLaw.from_cell(None, 1.0, 0.0, 6.44).alpha == pytest.approx(-math.log1p(-b) / b, rel=1e-15)
    ideal = FiringLaw.from_cell(None, 1.0, 0.0, math.inf)
    assert ideal.beta == 0.0 and ideal.fire_time(0.25) == pytest.approx(0.75, abs=1e-15)


@pytest.mark.parametrize("law", LAWS)
def test_firing_law_equals_torch_fire_time(law):
    v = np.random.default_rng(3).uniform(-1.5, 1.5, 2000)
    e_dis = math.inf if law.beta == 0 else 1 / law.beta
    ref = fire_time(torch.as_tensor(v, dtype=torch.float64), e_dis, law.alpha, law.threshold, law.t_min).numpy()
    np.testing.assert_allclose(law.fire_time(v), ref, rtol=0, atol=1e-12)


def test_rising_crossing_of_a_linear_ramp_is_exact():
    t = np.linspace(0.0, 1.0, 11)
    v = 3.0 * t - 0.5                          # crosses 1.3 at t = 0.6 exactly between samples 5 and 7
    assert rising_crossing(t, v, 1.3, 0.05, 1.0) == pytest.approx(0.6, abs=1e-15)
    assert rising_crossing(t, v, 1.37, 0.05, 1.0) == pytest.approx(1.87 / 3.0, abs=1e-15)
    assert rising_crossing(t, v, 0.0, 0.5, 1.0) == 0.5      # already above at the window start
    assert rising_crossing(t, v, 9.0, 0.0, 1.0) is None      # never
    assert rising_crossing(t, v, 1.3, 0.0, 0.6) is None      # the window ends at the crossing sample (half-open)
    assert rising_crossing(t, v, 1.3, 0.0, 0.05) is None     # fewer than two samples


def test_first_crossing_both_directions_is_exact():
    x = np.linspace(0.0, 1.5, 16)
    assert first_crossing(x, 2.0 * x, 0.9) == pytest.approx(0.45, abs=1e-15)
    assert first_crossing(x, 1.8 - 2.0 * x, 0.9) == pytest.approx(0.45, abs=1e-15)
    assert first_crossing(x, x, 5.0) is None


def test_log_interpolation_is_exact_on_exponential_data():
    vg = np.linspace(0.3, 0.8, 11)
    cur = 1e-12 * np.exp(vg / 0.04)
    v_fine = np.linspace(0.3, 0.8, 97)
    i_fine = 1e-12 * np.exp(v_fine / 0.04)
    np.testing.assert_allclose(interp_of_log(v_fine, vg, cur), i_fine, rtol=1e-12)
    np.testing.assert_allclose(interp_in_log(i_fine, cur, vg), v_fine, rtol=0, atol=1e-12)
    below = 1e-12 * np.exp(np.array([0.2, 0.25]) / 0.04)     # under the table: clamped, or the first segment extended
    np.testing.assert_allclose(interp_in_log(below, cur, vg), 0.3, atol=1e-12)
    np.testing.assert_allclose(interp_in_log(below, cur, vg, extend_low=True), [0.2, 0.25], atol=1e-12)
