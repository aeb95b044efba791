"""The variation section of cell.json: what Monte-Carlo mismatch extraction measured, as distributions with their
sample counts (written by imc-extract, read by imc-train's variation-aware training and by the report).

Units follow cell.json: currents in A, voltages in V, capacitances in F, normalised quantities as in docs/models.md.
A neutral module like imcpnn/cell.py: the producer and its consumers import it, none imports another stage for it.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: the scalar quantities a variation section may hold (name -> unit); any other key is refused
SPREAD_KEYS = {
    "v_switch": "V",
    "v_th": "V",
    "c_m": "F (C_eff at the design fan-in)",
    "lambda_n": "1/V",
    "lambda_p": "1/V",
    "lambda_dis": "1/V",
    "i_dis": "A (at v0)",
    "alpha_dis": "normalised firing-ramp rate",
    "fire_threshold": "normalised (v from v_reset)",
    "kick_n": "normalised (v_th), the NMOS kick at the kick table's middle weight",
    "kick_p": "normalised (v_th), the PMOS kick at the kick table's middle weight",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spread(_Strict):
    """One quantity over the Monte-Carlo instances: mean, sample standard deviation (ddof 1) and the samples."""

    n: int = Field(ge=2)
    mean: float = Field(allow_inf_nan=False)
    std: float = Field(ge=0, allow_inf_nan=False)
    samples: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "Spread":
        if self.samples and len(self.samples) != self.n:
            raise ValueError(f"spread holds {len(self.samples)} samples but n = {self.n}")
        if not all(math.isfinite(x) for x in self.samples):
            raise ValueError("spread samples must be finite numbers")
        return self

    @property
    def rel(self) -> float:
        """std / |mean| (0 for a zero mean)."""
        return self.std / abs(self.mean) if self.mean else 0.0


class CurrentMismatch(_Strict):
    """A synapse branch's current mismatch against its nominal current (membrane at v0): sub-threshold mismatch
    grows as the current falls, so sigma is a function of the current, not one number."""

    i: list[float] = Field(description="A, mean branch current over the instances at each gate bias, ascending")
    sigma_rel: list[float] = Field(description="std / mean of the branch current at that bias")
    n: int = Field(ge=2, description="Monte-Carlo instances per bias")

    @model_validator(mode="after")
    def _table(self) -> "CurrentMismatch":
        if len(self.i) != len(self.sigma_rel) or len(self.i) < 2:
            raise ValueError("current mismatch needs >= 2 points, one sigma_rel per current")
        if any(b <= a for a, b in zip(self.i, self.i[1:])) or self.i[0] <= 0:
            raise ValueError("current mismatch currents must be positive and strictly ascending")
        if not all(math.isfinite(s) and s >= 0 for s in self.sigma_rel):
            raise ValueError("sigma_rel must be finite and >= 0")
        return self

    def sigma_at(self, current: float) -> float:
        """sigma_rel at a current (A), interpolated linearly in log current and held at the ends."""
        x = math.log(max(current, 1e-30))
        xs = [math.log(i) for i in self.i]
        if x <= xs[0]:
            return self.sigma_rel[0]
        if x >= xs[-1]:
            return self.sigma_rel[-1]
        k = next(j for j in range(1, len(xs)) if xs[j] >= x)
        f = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
        return self.sigma_rel[k - 1] + f * (self.sigma_rel[k] - self.sigma_rel[k - 1])


class Variation(_Strict):
    """Monte-Carlo mismatch of one cell: the condition, the seed and instance count, per-branch current mismatch
    and the spread of the scalar quantities (keys from SPREAD_KEYS)."""

    corner: str = Field(description="the mismatch section simulated, e.g. tt_mm")
    temperature: float
    seed: int
    n_instances: int = Field(ge=2)
    current: dict[str, CurrentMismatch] = Field(description="per branch 'n' / 'p'")
    spreads: dict[str, Spread] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keys(self) -> "Variation":
        if set(self.current) != {"n", "p"}:
            raise ValueError("variation.current must have exactly the branches 'n' and 'p'")
        unknown = sorted(set(self.spreads) - set(SPREAD_KEYS))
        if unknown:
            raise ValueError(f"unknown variation quantities {unknown}; known: {sorted(SPREAD_KEYS)}")
        return self
