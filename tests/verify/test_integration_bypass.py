"""Device bypass (`--integration bypass`, the grid's default) against a tight solution, in real ngspice.

A 2-layer network is simulated three times: with the design's settings (reltol 1e-4), with bypass at half the
reltol, and at reltol 1e-5 as the reference. Bypass skips a device's evaluation when its voltages barely moved, so
it adds an error of its own; the halved reltol is there to pay for it. Tolerance: bypass may be no further from the
reference than the design's settings are, plus the project's 0.05 ns equivalence standard for two circuit settings
(docs/verification.md "The grid's integration settings"). The same neurons must fire."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imcpnn.cell import load_cell
from imcpnn.netlists import load_design
from imcpnn.pdk import lib_line
from imcpnn.verify.mapping import Scales
from imcpnn.verify.simulate import simulate

pytestmark = pytest.mark.spice

CELL = Path(__file__).resolve().parents[1] / "fixtures" / "cell_paper.json"


def _rms_ns(a: np.ndarray, b: np.ndarray, t_ns: float) -> float:
    fired = (a < 1) | (b < 1)
    return float(np.sqrt(np.mean(((a - b)[fired] * t_ns) ** 2)))


def test_bypass_at_half_reltol_is_no_further_from_a_tight_solution_than_the_design_settings():
    cell = load_cell(CELL)
    rng = np.random.default_rng(5)
    w = [rng.uniform(-0.8, 1.2, (4, 4)), rng.uniform(-0.8, 1.2, (3, 4))]
    x = rng.uniform(0, 0.8, (4, 4))
    base = load_design(cell.design).derive(device_form="flat")
    runs = {name: simulate(w, x, cell, d, lib_line(), Scales(), clip=True, chunks=1, workers=1, progress=False).times
            for name, d in (("design", base), ("bypass", base.with_integration("bypass")),
                            ("tight", base.derive(reltol=1e-5)))}
    t_ns = cell.t_circ * 1e9
    for layer in range(2):
        tight = runs["tight"][layer]
        fired = [int((runs[k][layer] < 1).sum()) for k in ("design", "bypass", "tight")]
        assert fired[0] == fired[1] == fired[2] > 0, f"layer {layer + 1}: spikes design/bypass/tight {fired}"
        e_design = _rms_ns(runs["design"][layer], tight, t_ns)
        e_bypass = _rms_ns(runs["bypass"][layer], tight, t_ns)
        assert e_bypass <= e_design + 0.05, (f"layer {layer + 1}: bypass {e_bypass:.3f} ns RMS from reltol 1e-5, "
                                             f"the design's settings {e_design:.3f} ns")
