"""`CellParams`: the record written as cell.json by imc-extract and read by imc-train and imc-verify.

All physical quantities are SI (V, A, F, s, 1/V); the normalised model quantities (E_rev, weights) follow PAPER.md 2.5:
v = (V0 - V) / v_th, time in units of t_circ, weight w means a current w * i_unit with i_unit = c_m * v_th / t_circ.
Unknown or missing fields are an error (pydantic, extra="forbid"); `schema_version` guards format changes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imcpnn.atomic import atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.userfiles import read_user_text

SCHEMA_VERSION = 1

UNITS = {
    "vdd": "V", "v0": "V", "v_switch": "V", "v_th": "V", "t_circ": "s", "c_m": "F", "i_unit": "A",
    "lambda_n": "1/V", "lambda_p": "1/V", "lambda_dis": "1/V", "curvature_n": "1/V^2", "curvature_p": "1/V^2",
    "curvature_dis": "1/V^2", "e_rev_plus": "normalised (v_th)", "e_rev_minus": "normalised (v_th)",
    "e_dis": "normalised (v_th)", "leak": "normalised rate (1/t_circ)", "leak_current": "A (at v0, + discharges)",
    "i_dis": "A (at v0)", "alpha_dis": "normalised (i_dis / i_unit)", "w_max_plus": "normalised weight",
    "w_max_minus": "normalised weight (magnitude)", "fire_alpha": "normalised (dv/dt at v = 0, per t_circ)",
    "fire_threshold": "normalised (v from v_reset)", "fire_t_min": "normalised (t_circ)", "v_reset": "V", "bias_tables.v_gate": "V", "bias_tables.i_v0": "A",
    "bias_tables.lambda": "1/V", "c_m_per_fanin.c_m": "F",
    "kicks.n_w": "normalised weight", "kicks.p_w": "normalised weight (magnitude)",
    "kicks.n_kick": "normalised (v_th), added to v at the firing start", "kicks.p_kick": "normalised (v_th)",
    "kicks.n_delay": "normalised (t_circ)", "kicks.p_delay": "normalised (t_circ)",
    "kicks_neuron": "as kicks, for inputs driven by a neuron (layers after the first)",
    "bias_interp_rel_error": "relative (log-linear interpolation of i_v0 at twice the table step)",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BiasTable(_Strict):
    """Gate bias -> drain current at V = v0 for one synapse branch (the table imc-verify inverts)."""

    v_gate: list[float]
    i_v0: list[float] = Field(description="A, magnitude of the branch current at the membrane held at v0")
    lam: list[float] = Field(alias="lambda", description="1/V, CLM coefficient of each curve")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _same_length(self) -> "BiasTable":
        if not (len(self.v_gate) == len(self.i_v0) == len(self.lam)) or len(self.v_gate) < 2:
            raise ValueError("bias table columns must have the same length (>= 2)")
        return self


class KickTable(_Strict):
    """Effective kick of a synapse on its neuron's firing when its arrived input spike is switched off at the firing
    start (extract/kicks.py), per branch against the weight magnitude; model units (signed: + NMOS, - PMOS)."""

    n_w: list[float]
    n_kick: list[float]
    p_w: list[float]
    p_kick: list[float]
    #: turn-on delay of the branch current after the input spike's 50 % point (model units, same transient)
    n_delay: float = 0.0
    p_delay: float = 0.0

    @model_validator(mode="after")
    def _shape(self) -> "KickTable":
        for br in ("n", "p"):
            w, k = getattr(self, f"{br}_w"), getattr(self, f"{br}_kick")
            if len(w) != len(k) or len(w) < 2 or any(b <= a for a, b in zip(w, w[1:])) or w[0] <= 0:
                raise ValueError(f"kick table '{br}' needs >= 2 increasing positive weights, one kick each")
        return self

    def tables(self) -> dict:
        """The fields as a plain dict (the model's kick_table: models.functional.SpikeLineKick takes the tables,
        verify.predict the delays too)."""
        return self.model_dump()


class FanIn(_Strict):
    n_in: int
    c_m: float


class FitQuality(_Strict):
    r2: float
    max_rel_residual: float


class Provenance(_Strict):
    pdk_source: str
    pdk_version: str
    pdk_hash: str
    corner: str
    temperature: float
    ngspice_version: str
    netlist_hashes: dict[str, str]
    tool_version: str
    timestamp: str
    design: str


class CellParams(_Strict):
    schema_version: int
    vdd: float
    v0: float
    v_switch: float
    v_th: float
    t_circ: float
    c_m: float
    c_m_per_fanin: list[FanIn]
    design_fan_in: int
    i_unit: float
    lambda_n: float
    lambda_p: float
    lambda_dis: float
    curvature_n: float
    curvature_p: float
    curvature_dis: float
    e_rev_plus: float
    e_rev_minus: float
    e_dis: float
    i_dis: float
    alpha_dis: float
    leak: float
    leak_current: float
    w_max_plus: float
    w_max_minus: float
    bias_tables: dict[str, BiasTable]
    fit_quality: dict[str, FitQuality]
    provenance: Provenance
    #: optional (added by imc-extract run): max relative error of log-current interpolation, per branch
    bias_interp_rel_error: dict[str, float] = Field(default_factory=dict)
    #: optional (imc-extract run, firing transient): the firing phase as the circuit does it, in model units:
    #: ramp rate, the level the ramp must reach before the latch flips (1 + the comparator's dynamic offset), and the
    #: latency of an overdriven comparator. None / 1 / 0 = the paper's ideal comparator.
    fire_alpha: float | None = None
    fire_threshold: float = 1.0
    fire_t_min: float = 0.0
    #: optional: membrane level at the start of accumulation (V0 plus the reset switch's charge-injection kick)
    v_reset: float | None = None
    #: optional: spike-line kicks (extract/kicks.py); None = not characterised (older cell.json)
    kicks: KickTable | None = None
    #: optional: the same for synapses driven by a neuron's spike (every layer after the first; extract/kicks.py)
    kicks_neuron: KickTable | None = None
    units: dict[str, str] = Field(default_factory=lambda: dict(UNITS))

    @model_validator(mode="after")
    def _check(self) -> "CellParams":
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported (expected {SCHEMA_VERSION})")
        if set(self.bias_tables) != {"n", "p"}:
            raise ValueError("bias_tables must have exactly the branches 'n' and 'p'")
        if not (self.v_th > 0 and self.c_m > 0 and self.t_circ > 0 and self.i_unit > 0):
            raise ValueError("v_th, c_m, t_circ and i_unit must be positive")
        if not math.isclose(self.i_unit, self.c_m * self.v_th / self.t_circ, rel_tol=1e-9):
            raise ValueError("i_unit must equal c_m * v_th / t_circ")
        if not (self.e_rev_plus > 0 > self.e_rev_minus and self.e_dis > 0):
            raise ValueError("need e_rev_plus > 0 > e_rev_minus and e_dis > 0")
        return self

    def lambda_tables(self) -> dict:
        """CLM coefficient versus current per branch (sorted by current, duplicates dropped), with i_unit and v_th:
        the arguments of imcpnn.models.functional.CurrentDependentBeta."""
        out: dict = {"i_unit": self.i_unit, "v_th": self.v_th}
        for br in ("n", "p"):
            t = self.bias_tables[br]
            pairs = sorted(zip(t.i_v0, t.lam))
            cur, lam = [], []
            for c, l in pairs:
                if not cur or c > cur[-1]:
                    cur.append(float(c))
                    lam.append(float(l))
            out[f"{br}_current"], out[f"{br}_lambda"] = cur, lam
        return out

    @property
    def beta_dis(self) -> float:
        return 1.0 / self.e_dis

    def to_json(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.to_json())


def load_cell(path: str | Path) -> CellParams:
    """Read and validate a cell.json; any problem is a ConfigError naming the file and the field."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"cell params path {path} is a directory, not a cell.json file")
    if not path.is_file():
        raise ConfigError(f"cell params file not found: {path} (create it with `imc-extract run --out {path}`)")
    try:
        data = json.loads(read_user_text(path, "cell params file"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); re-run imc-extract") from None
    try:
        return CellParams.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ConfigError(f"{path}: invalid cell params at '{where}': {first['msg']} "
                          f"({exc.error_count()} problem(s)); re-run imc-extract") from None
