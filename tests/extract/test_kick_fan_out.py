"""The neuron-fed kick transients at several fan-outs of the test spike line (no simulation): the design fan-out's
layout is the one the cache already holds, and every test line drives exactly fan_out synapses."""

import numpy as np
import pytest

from imcpnn.cell import KICK_FAN_OUT
from imcpnn.extract.fit import ExtractionError
from imcpnn.extract.kicks import (DRIVER_ARRIVALS, KickGates, driven_kick_network, fan_out_fits, kick_layer_biases,
                                  kick_parts)
from imcpnn.netlists import default_design

#: the gates the tests' weights have at tt, 27 C
GATES = KickGates((0.38, 0.42, 0.46, 0.50, 0.54, 0.58, 0.62, 0.66), (1.32, 1.28, 1.24, 1.18, 1.12, 1.06, 1.0, 0.95),
                  0.53)


def _loads(design, biases, x):
    """Per input line of the kick layer: how many of its synapses are biased on, and whether its driver fires."""
    vn, vp = biases[1]
    on = (vn > 0) | (vp < design.vdd)
    return on.sum(0), x[:-1].min(0) < 1


def test_the_design_fan_out_keeps_the_cached_layout():
    d = default_design()
    tests, biases, x, line = driven_kick_network(GATES, d.vdd, 5)
    ref_tests, vn2, vp2, _ = kick_layer_biases(GATES, d.vdd, 5)
    vn1 = np.zeros((5, 5))
    vn1[0, 0] = vn1[1, 1] = GATES.background
    ref_x = np.ones((len(DRIVER_ARRIVALS) + 1, 5))
    ref_x[:-1, 0] = DRIVER_ARRIVALS
    ref_x[:, 1] = 0.0
    assert tests == ref_tests and line == 0 and KICK_FAN_OUT == len(tests)
    assert np.array_equal(biases[0][0], vn1) and np.array_equal(biases[0][1], np.full((5, 5), d.vdd))
    assert np.array_equal(biases[1][0], vn2) and np.array_equal(biases[1][1], vp2) and np.array_equal(x, ref_x)


@pytest.mark.parametrize("fan_out", [16, 40, 64])
def test_the_test_line_drives_fan_out_synapses(fan_out):
    d = default_design()
    tests, biases, x, line = driven_kick_network(GATES, d.vdd, 5, fan_out)
    per_line, driven = _loads(d, biases, x)
    assert line == 0 and [j for j in range(5) if driven[j]] == [0, 1]  # the test line and the background
    assert len(tests) == fan_out == biases[1][0].shape[0] == per_line[0] == per_line[1]
    assert tests[:KICK_FAN_OUT] == tests[KICK_FAN_OUT:2 * KICK_FAN_OUT] or fan_out == KICK_FAN_OUT


def test_below_16_the_tests_are_split_over_transients_of_one_line_each():
    """Several test lines in one transient would put other lines' zero-weight synapses on every test neuron."""
    d = default_design()
    assert kick_parts(4) == 4 and kick_parts(16) == kick_parts(64) == 1
    seen = []
    for part in range(4):
        tests, biases, x, line = driven_kick_network(GATES, d.vdd, 5, 4, part)
        per_line, driven = _loads(d, biases, x)
        assert line == 0 and [j for j in range(5) if driven[j]] == [0, 1] and per_line[0] == per_line[1] == 4
        assert {br for br, _ in tests} == {"n", "p"}
        seen += tests
    assert sorted(seen) == sorted(kick_layer_biases(GATES, d.vdd, 5)[0])
    assert not fan_out_fits(5, 3) and fan_out_fits(5, 4) and fan_out_fits(3, 64)
    with pytest.raises(ExtractionError, match="fan-out 3 does not divide the 16 tests"):
        driven_kick_network(GATES, d.vdd, 5, 3)
