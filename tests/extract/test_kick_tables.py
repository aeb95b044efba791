"""The kick tables' sign check (extract/kicks.py ``fit_points``): the strongest kick must move the membrane in its
branch's direction; the smallest weights' kicks may change sign, as the matched design's do."""

import pytest

from imcpnn.extract.fit import ExtractionError
from imcpnn.extract.kicks import fit_points

#: the matched design's N-branch kicks at tt, 27 C (docs/examples/design-matched.yaml): negative below 0.1 units
MATCHED_N = [(0.01254, -3.16e-3), (0.03786, -5.9e-4), (0.1092, 2.5e-3), (0.3138, 6.26e-3), (0.8461, 1.05e-2),
             (2.130, 1.51e-2), (4.984, 1.95e-2), (10.75, 2.22e-2)]
DEFAULT_P = [(0.0137, -2.38e-3), (0.0308, -2.69e-3), (0.0644, -3.03e-3), (0.178, -3.62e-3), (0.462, -4.36e-3)]
ARRIVAL = {br: [(0.1, -0.01), (1.0, -0.02), (3.0, -0.05)] for br in ("n", "p")}


def _points(n, p):
    return [("n", w, k, 0.5) for w, k in n] + [("p", w, k, 0.5) for w, k in p]


def test_small_weight_kicks_of_the_other_sign_are_kept():
    fit = fit_points(_points(MATCHED_N, DEFAULT_P), ARRIVAL)
    assert fit.kick["n"] == [k for _, k in MATCHED_N]
    assert fit.w["n"] == [w for w, _ in MATCHED_N]


@pytest.mark.parametrize("branch", ["n", "p"])
def test_a_wrong_signed_strongest_kick_is_refused(branch):
    n = MATCHED_N[:-1] + [(10.75, -1e-3)] if branch == "n" else MATCHED_N
    p = DEFAULT_P[:-1] + [(0.462, 1e-3)] if branch == "p" else DEFAULT_P
    with pytest.raises(ExtractionError, match=f"{branch.upper()}-branch kick at the largest weight"):
        fit_points(_points(n, p), ARRIVAL)
