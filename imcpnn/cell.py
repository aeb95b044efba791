"""`CellParams`: the record written as cell.json by imc-extract and read by imc-train and imc-verify (a neutral
module: the producer and its consumers import it, none imports another stage for it).

All physical quantities are SI (V, A, F, s, 1/V); the normalised model quantities (E_rev, weights) follow
docs/paper.md §2.5: v = (V0 - V) / v_th, time in units of t_circ, weight w means a current w * i_unit with
i_unit = c_m * v_th / t_circ.
Unknown or missing fields are an error (pydantic, extra="forbid"); `schema_version` guards format changes.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imcpnn.atomic import atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.userfiles import read_user_text
from imcpnn.variation import Variation

SCHEMA_VERSION = 2
#: the fan-out of the test spike line in imc-extract's neuron-fed kick transient (its 16 test neurons), i.e. the load
#: that ``kicks_neuron`` was measured at
KICK_FAN_OUT = 16
#: what changed at each version, for the message that asks to re-extract an old file
SCHEMA_CHANGES = {2: "alpha_dis is the measured firing-ramp rate (was fire_alpha), alpha_dis_dc the DC estimate "
                     "(was alpha_dis), leak_drift (was leak); the full design is embedded"}

UNITS = {
    "vdd": "V", "v0": "V", "v_switch": "V", "v_th": "V", "t_circ": "s", "c_m": "F", "i_unit": "A",
    "lambda_n": "1/V", "lambda_p": "1/V", "lambda_dis": "1/V", "curvature_n": "1/V^2", "curvature_p": "1/V^2",
    "curvature_dis": "1/V^2", "e_rev_plus": "normalised (v_th)", "e_rev_minus": "normalised (v_th)",
    "e_dis": "normalised (v_th)", "leak_drift": "normalised drift rate dv/dt with every input off (1/t_circ; + towards firing)",
    "leak_current": "A (at v0, + discharges)",
    "i_dis": "A (at v0)", "alpha_dis_dc": "normalised (i_dis / i_unit): DC estimate of the firing-ramp rate", "w_max_plus": "normalised weight",
    "w_max_minus": "normalised weight (magnitude)", "alpha_dis": "normalised firing-ramp rate (dv/dt at v = 0, per t_circ), measured in the firing transient",
    "fire_threshold": "normalised (v from v_reset)", "fire_t_min": "normalised (t_circ)",
    "fire_early.v": "normalised (v from v_reset), at the firing start", "fire_early.t": "normalised (t_circ)", "v_reset": "V", "bias_tables.v_gate": "V", "bias_tables.i_v0": "A",
    "bias_tables.lambda": "1/V", "c_m_per_fanin.c_m": "F",
    "kicks.n_w": "normalised weight", "kicks.p_w": "normalised weight (magnitude)",
    "kicks.n_kick": "normalised (v_th), added to v at the firing start", "kicks.p_kick": "normalised (v_th)",
    "kicks.n_delay": "normalised (t_circ)", "kicks.p_delay": "normalised (t_circ)",
    "kicks_neuron": "as kicks, for inputs driven by a neuron (layers after the first), spike-line fan-out 16",
    "kick_level.n_slope": "relative change of the kick per v_th of membrane level", "kick_level.n_v": "normalised (v_th)",
    "kicks_neuron_fan_out": "as kicks_neuron, at other fan-outs of the driving spike line (synapse gates)",
    "bias_interp_rel_error": "relative (log-linear interpolation of i_v0 at twice the table step)",
    "design": "the full cell design (netlists.CellDesign) the cell was extracted from",
    "design_sha256": "sha256 of the design's canonical JSON",
    "variation": "Monte-Carlo mismatch: per-branch sigma(I)/I (A) and spreads of scalar quantities (imcpnn/variation.py)",
}


def design_sha256(design: dict) -> str:
    """sha256 of a design's canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(design, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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
        if not all(math.isfinite(x) for x in self.v_gate + self.lam):
            raise ValueError("bias table v_gate and lambda must be finite numbers")
        if not all(math.isfinite(i) and i > 0 for i in self.i_v0):
            raise ValueError("bias table currents i_v0 must be positive finite numbers (A)")
        steps = [b - a for a, b in zip(self.v_gate, self.v_gate[1:])]
        if not (all(d > 0 for d in steps) or all(d < 0 for d in steps)):
            raise ValueError("bias table v_gate must be sorted (strictly increasing or decreasing)")
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
            if not all(math.isfinite(x) for x in w + k + [getattr(self, f"{br}_delay")]):
                raise ValueError(f"kick table '{br}' must hold finite numbers")
        return self


class EarlySpikes(_Strict):
    """Spike times of a neuron at or past the threshold when the firing phase starts (extract/firing.py), model
    units: the comparator's latency against its overdrive, from ~17 ns just past the threshold down to t_min."""

    v: list[float]
    t: list[float]

    @model_validator(mode="after")
    def _shape(self) -> "EarlySpikes":
        if (len(self.v) != len(self.t) or len(self.v) < 2 or any(b <= a for a, b in zip(self.v, self.v[1:]))
                or not all(math.isfinite(x) for x in self.v + self.t) or not all(0 <= x <= 1 for x in self.t)):
            raise ValueError("fire_early needs >= 2 increasing finite potentials, one spike time in [0, 1] each")
        return self


class KickLevel(_Strict):
    """The kicks' dependence on the membrane level at the firing start, per branch against the weight magnitude:
    kick(w, v) = kick(w) (1 + slope(w) (v - v(w))), v(w) the level the kick tables were measured at (extract/kicks.py
    ``kick_level_law``: the stimulus-fed kicks at two levels)."""

    n_w: list[float]
    n_slope: list[float]
    n_v: list[float]
    p_w: list[float]
    p_slope: list[float]
    p_v: list[float]

    @model_validator(mode="after")
    def _shape(self) -> "KickLevel":
        for br in ("n", "p"):
            w, s, v = (getattr(self, f"{br}_{k}") for k in ("w", "slope", "v"))
            if not (len(w) == len(s) == len(v) >= 2 and all(b > a for a, b in zip(w, w[1:])) and w[0] > 0
                    and all(math.isfinite(x) for x in w + s + v)):
                raise ValueError(f"kick_level '{br}' needs >= 2 increasing positive weights, a slope and a level each")
        return self


class FanOutKicks(_Strict):
    """Neuron-fed kicks measured with the test spike line driving ``fan_out`` synapse gates (one per neuron of the
    layer it feeds): a line's load sets its edge rate, and the edge sets how much channel charge its synapses push
    into the membranes (docs/verification.md)."""

    fan_out: int = Field(ge=1)
    kicks: KickTable


class FanIn(_Strict):
    n_in: int = Field(ge=0)
    c_m: float = Field(gt=0, allow_inf_nan=False)


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
    #: characterised on the extracted cells (imc-extract run --post-layout): mode, extraction hash, per-cell record
    post_layout: dict | None = None


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
    alpha_dis_dc: float
    leak_drift: float
    leak_current: float
    w_max_plus: float
    w_max_minus: float
    bias_tables: dict[str, BiasTable]
    fit_quality: dict[str, FitQuality]
    provenance: Provenance
    #: optional (added by imc-extract run): max relative error of log-current interpolation, per branch
    bias_interp_rel_error: dict[str, float] = Field(default_factory=dict)
    #: the full design (netlists.CellDesign.to_dict()) and the sha256 of its canonical JSON
    design: dict
    design_sha256: str
    #: optional (imc-extract run, firing transient): the firing phase as the circuit does it, in model units:
    #: ramp rate, the level the ramp must reach before the latch flips (1 + the comparator's dynamic offset), and the
    #: latency of an overdriven comparator. None / 1 / 0 = the paper's ideal comparator.
    alpha_dis: float | None = None
    fire_threshold: float = 1.0
    fire_t_min: float = 0.0
    #: optional (imc-extract run, early-spike transients): the spike time of a membrane at or past the threshold
    fire_early: EarlySpikes | None = None
    #: optional: membrane level at the start of accumulation (V0 plus the reset switch's charge-injection kick)
    v_reset: float | None = None
    #: optional: spike-line kicks (extract/kicks.py); None = not characterised (older cell.json)
    kicks: KickTable | None = None
    #: optional: the same for synapses driven by a neuron's spike (every layer after the first; extract/kicks.py)
    kicks_neuron: KickTable | None = None
    #: optional: how the kicks change with the membrane level at the firing start (extract/kicks.py kick_level_law)
    kick_level: KickLevel | None = None
    #: optional: the neuron-fed kicks at other fan-outs of the test spike line (kicks_neuron is at KICK_FAN_OUT)
    kicks_neuron_fan_out: list[FanOutKicks] = Field(default_factory=list)
    #: optional (imc-extract with Monte-Carlo instances): the measured mismatch spread (imcpnn/variation.py)
    variation: Variation | None = None
    units: dict[str, str] = Field(default_factory=lambda: dict(UNITS))

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if isinstance(value, dict) and any(isinstance(v, float) and not math.isfinite(v) for v in value.values()):
            raise ValueError("must hold finite numbers")
        return value

    @model_validator(mode="after")
    def _check(self) -> "CellParams":
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported (expected {SCHEMA_VERSION})")
        if not 0 < self.v0 < self.vdd:
            raise ValueError(f"need vdd > 0 and 0 < v0 < vdd (got vdd {self.vdd} V, v0 {self.v0} V)")
        if not (self.w_max_plus > 0 and self.w_max_minus > 0):
            raise ValueError(f"w_max_plus and w_max_minus must be > 0 (got {self.w_max_plus}, {self.w_max_minus})")
        if not self.e_dis > 1:
            raise ValueError(f"e_dis must be > 1 (the discharge must reach the threshold; got {self.e_dis})")
        if not (self.i_dis > 0 and self.fire_threshold > 0 and self.fire_t_min >= 0
                and (self.alpha_dis is None or self.alpha_dis > 0)):
            raise ValueError("need i_dis > 0, fire_threshold > 0, fire_t_min >= 0 and alpha_dis > 0 (or null)")
        if self.design_fan_in < 0:
            raise ValueError(f"design_fan_in must be >= 0 (got {self.design_fan_in})")
        if set(self.bias_tables) != {"n", "p"}:
            raise ValueError("bias_tables must have exactly the branches 'n' and 'p'")
        if not (self.v_th > 0 and self.c_m > 0 and self.t_circ > 0 and self.i_unit > 0):
            raise ValueError("v_th, c_m, t_circ and i_unit must be positive")
        if not math.isclose(self.i_unit, self.c_m * self.v_th / self.t_circ, rel_tol=1e-9):
            raise ValueError("i_unit must equal c_m * v_th / t_circ")
        if not (self.e_rev_plus > 0 > self.e_rev_minus and self.e_dis > 0):
            raise ValueError("need e_rev_plus > 0 > e_rev_minus and e_dis > 0")
        if design_sha256(self.design) != self.design_sha256:
            raise ValueError("design_sha256 does not match the embedded design (edited by hand?)")
        return self

    def neuron_kicks_by_fan_out(self) -> list[tuple[int, KickTable]]:
        """(fan-out, neuron-fed kicks) at every fan-out of the driving spike line they were measured at, ascending
        (none: no kicks)."""
        if self.kicks_neuron is None:
            return []
        tables = {f.fan_out: f.kicks for f in self.kicks_neuron_fan_out}
        tables[KICK_FAN_OUT] = self.kicks_neuron
        return sorted(tables.items(), key=lambda ft: ft[0])

    def kick_fan_outs(self) -> list[int]:
        """The fan-outs of a neuron's spike line at which the neuron-fed kicks were measured (none: no kicks)."""
        return [f for f, _ in self.neuron_kicks_by_fan_out()]

    @property
    def temperature(self) -> float:
        """The temperature (C) the cell was extracted at."""
        return self.provenance.temperature

    @property
    def beta_dis(self) -> float:
        return 1.0 / self.e_dis

    def to_json(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), indent=2, allow_nan=False) + "\n"

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
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version < SCHEMA_VERSION:
        raise ConfigError(f"{path} has cell schema {version}, this imc-pnn reads {SCHEMA_VERSION} "
                          f"({SCHEMA_CHANGES[SCHEMA_VERSION]}); re-extract it with `imc-extract run --out {path}`")
    try:
        return CellParams.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ConfigError(f"{path}: invalid cell params at '{where}': {first['msg']} "
                          f"({exc.error_count()} problem(s)); re-run imc-extract") from None
