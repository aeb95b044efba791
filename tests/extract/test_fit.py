"""The fitting code recovers known parameters from synthetic curves (no simulator)."""

import numpy as np
import pytest

from imcpnn.extract.fit import (ExtractionError, crossing, fit_clm, interp_lambda, log_interp_error, monotone_table,
                                weighted_lambda)

V0, WIN = 1.3, (0.43, 1.3)


def synth(i0, lam, kap, sign, noise=0.0, seed=0):
    v = np.arange(0.3, 1.401, 0.025)
    x = sign * (v - V0)
    i = i0 * (1 + lam * x + kap * x**2)
    rng = np.random.default_rng(seed)
    return v, i * (1 + noise * rng.standard_normal(v.size))


@pytest.mark.parametrize("sign,lam", [(1.0, 0.41), (-1.0, 0.75), (1.0, 0.177)])
def test_recovers_linear_with_noise(sign, lam):
    v, i = synth(1e-7, lam, 0.0, sign, noise=1e-4, seed=1)
    f = fit_clm(v, i, V0, WIN, sign, "synthetic")
    assert f.i0 == pytest.approx(1e-7, rel=2e-4)
    assert f.lam == pytest.approx(lam, abs=2e-3)
    assert abs(f.kappa) < 5e-3
    assert f.r2 > 0.999


def test_recovers_curvature():
    v, i = synth(3e-8, 0.6, 0.05, -1.0, noise=2e-5, seed=2)
    f = fit_clm(v, i, V0, WIN, -1.0, "synthetic")
    assert f.i0_quad == pytest.approx(3e-8, rel=1e-4)
    assert f.lam_quad == pytest.approx(0.6, abs=1e-3)
    assert f.kappa == pytest.approx(0.05, abs=2e-3)
    # the linear lambda absorbs part of the curvature over the window, but stays close
    assert f.lam == pytest.approx(0.6, abs=0.05)


def test_quality_floor_names_the_curve():
    v = np.arange(0.3, 1.401, 0.025)
    i = 1e-7 * (1 + 0.3 * np.sin(20 * v))
    with pytest.raises(ExtractionError, match="curve synapse N vg=0.5"):
        fit_clm(v, i, V0, WIN, 1.0, "synapse N vg=0.5")


def test_window_too_small():
    v = np.array([0.1, 0.2, 1.3])
    with pytest.raises(ExtractionError, match="points in the window"):
        fit_clm(v, np.ones(3), V0, WIN, 1.0, "c")


def test_weighted_lambda_uses_range_and_weights():
    from imcpnn.extract.fit import CurveFit

    mk = lambda i0, lam: CurveFit("c", i0, lam, 0.0, i0, lam, 1.0, 0.0, 10)  # noqa: E731
    fits = [mk(1e-9, 5.0), mk(1e-8, 0.4), mk(3e-8, 0.6), mk(1e-5, 9.0)]
    lam, _, used = weighted_lambda(fits, 5e-9, 3e-7, "x")
    assert len(used) == 2
    assert lam == pytest.approx((1e-8 * 0.4 + 3e-8 * 0.6) / 4e-8)
    with pytest.raises(ExtractionError):
        weighted_lambda(fits, 1e-3, 1e-2, "x")
    assert interp_lambda(np.array([1e-8, 3e-8]), fits[1:3]) == pytest.approx([0.4, 0.6])


def test_crossing_and_tables():
    x = np.linspace(0, 1, 101)
    assert crossing(x, 1.8 * (x < 0.4321) + 0 * x, 0.9, "t") == pytest.approx(0.435, abs=0.006)
    assert crossing(x, 2 * x, 0.9, "t") == pytest.approx(0.45)
    with pytest.raises(ExtractionError):
        crossing(x, x, 5.0, "t")
    vg = np.arange(0.2, 0.9, 0.005)
    i = 1e-12 * np.exp(vg / 0.04)
    i[-3:] = i[-4]  # saturating tail (non-monotone) is cut
    tv, ti = monotone_table(vg, i, 1e-11, 1.0)
    assert np.all(np.diff(ti) > 0) and ti.min() >= 1e-11 and len(tv) < len(vg)
    # pure exponential: log interpolation is exact
    assert log_interp_error(tv, ti) < 1e-9
    tp, ip = monotone_table(vg, i[::-1].copy(), 1e-11, 1.0)      # decreasing (PMOS-like) tables are kept too
    assert np.all(np.diff(ip) < 0)
