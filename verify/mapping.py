"""Weight -> current -> gate bias, by inverting the measured bias-to-current tables of cell.json.

A normalised weight w means a synaptic current |w| * i_unit * scale at the membrane held at V0 (docs/paper.md §2.5):
w > 0 uses the NMOS branch (sinks current), w < 0 the PMOS branch (sources it); the unused branch is biased off
(NMOS gate 0 V, PMOS gate Vdd). The inversion interpolates the gate voltage piecewise-linearly in log current (exact
for the exponential sub-threshold law, and the tables are dense: 5 mV steps; the interpolation error is measured at
extraction and recorded in cell.json as `bias_interp_rel_error`),
so the forward and inverse maps are exact inverses; below the table's smallest current the first segment is extended
(still sub-threshold), and currents under `off_fraction` of a unit are off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcpnn.errors import ConfigError
from imcpnn.cell import CellParams
from imcpnn.laws import interp_in_log, interp_of_log


@dataclass(frozen=True)
class Scales:
    """Current calibration factors: one global factor (bottom-up) or one per branch (top-down)."""

    pos: float = 1.0
    neg: float = 1.0

    @classmethod
    def global_(cls, s: float) -> "Scales":
        return cls(s, s)

    def as_dict(self) -> dict[str, float]:
        return {"pos": self.pos, "neg": self.neg}


class BiasMapper:
    def __init__(self, cell: CellParams, off_fraction: float = 1e-3):
        self.cell = cell
        self.off_current = off_fraction * cell.i_unit
        self._inv = {}
        for br in ("n", "p"):
            t = cell.bias_tables[br]
            v, i = np.asarray(t.v_gate, float), np.asarray(t.i_v0, float)
            order = np.argsort(i)
            v, i = v[order], i[order]
            keep = np.concatenate([[True], np.diff(i) > 0])
            v, i = v[keep], i[keep]
            if len(i) < 2 or np.any(i <= 0):
                raise ConfigError(f"cell.json bias table '{br}' needs >= 2 positive, distinct currents")
            self._inv[br] = (i, v)
        self.i_max = {br: float(max(cell.bias_tables[br].i_v0)) for br in ("n", "p")}

    def gate_for_current(self, branch: str, current: np.ndarray) -> np.ndarray:
        """Gate voltage giving `current` (A, magnitude) at V0 on `branch`."""
        i, v = self._inv[branch]
        # below the table: still sub-threshold, so its first segment extends
        return np.clip(interp_in_log(current, i, v, extend_low=True), 0.0, self.cell.vdd)

    def current_for_gate(self, branch: str, v_gate: np.ndarray) -> np.ndarray:
        i, v = self._inv[branch]
        o = np.argsort(v)
        return interp_of_log(v_gate, v[o], i[o])

    def out_of_range(self, w: np.ndarray, scales: Scales) -> np.ndarray:
        """Boolean mask of weights whose current exceeds the branch's table."""
        w = np.asarray(w, float)
        cur_p = w * self.cell.i_unit * scales.pos
        cur_n = -w * self.cell.i_unit * scales.neg
        return ((w > 0) & (cur_p > self.i_max["n"] * (1 + 1e-9))) | ((w < 0) & (cur_n > self.i_max["p"] * (1 + 1e-9)))

    def biases(self, w: np.ndarray, scales: Scales = Scales(), clip: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
        """(vn, vp, n_clipped) gate voltages for a (n_out, n_in) weight matrix."""
        w = np.asarray(w, float)
        if not np.all(np.isfinite(w)):
            raise ConfigError("weights contain NaN or inf")
        bad = self.out_of_range(w, scales)
        n_clipped = int(bad.sum())
        if n_clipped and not clip:
            idx = [tuple(int(k) for k in ij) for ij in np.argwhere(bad)[:6]]
            raise ConfigError(f"{n_clipped} weight(s) exceed the exportable current range (e.g. at {idx}: "
                              f"w={[round(float(w[ij]), 3) for ij in idx]}; range +{self.cell.w_max_plus:.3g} / "
                              f"-{self.cell.w_max_minus:.3g} units); pass --clip to clip them")
        cur = np.where(w > 0, w * scales.pos, -w * scales.neg) * self.cell.i_unit
        cur = np.where(w > 0, np.minimum(cur, self.i_max["n"]), np.minimum(cur, self.i_max["p"]))
        on = cur > self.off_current
        safe = np.where(on, cur, self.off_current)
        vn = np.where(on & (w > 0), self.gate_for_current("n", safe), 0.0)
        vp = np.where(on & (w < 0), self.gate_for_current("p", safe), self.cell.vdd)
        return vn, vp, n_clipped

