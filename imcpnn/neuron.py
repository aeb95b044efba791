"""The neuron model: one typed record holding everything that shapes a layer's forward pass.

Built from a cell.json (bottom-up, :meth:`NeuronModel.from_cell`) or from a training config (top-down,
``imcpnn.train.config.neuron_model``), written into every run directory as ``model.json``, consumed by the models'
layers (``imcpnn.models.RCSpikeLinear(neuron=...)``), by training and by verification. Normalised units throughout
(docs/models.md): potentials in units of the threshold swing v_th, time in units of one phase t_circ, weights in
units of i_unit = C_m v_th / t_circ.

Per layer where the physics differs: the first layer is fed by the stimulus (2 ns edges), every later layer by
neurons (0.1 ns edges), and their spike-line kicks and turn-on delays differ (docs/verification.md).
:meth:`NeuronModel.layer` gives the :class:`LayerModel` of one layer.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imcpnn.atomic import atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.laws import FiringLaw

if TYPE_CHECKING:  # the record is built from a cell duck-typed, so that models/ never imports pydantic
    from imcpnn.cell import CellParams

MODEL_SCHEMA_VERSION = 1

#: The model ladder (docs/verification.md, "The model ladder"): the paper's bottom-up form (scalar E+ / E- from the
#: cell's lambda, E_dis and the paper's firing law), then one measured circuit effect at a time, cumulatively, up to
#: the full record. :meth:`NeuronModel.at_level` gives one level.
LADDER = ("paper", "+threshold", "+lambda-table", "+firing-law", "+kicks", "+neuron-kicks", "+delays", "+fan-in")


@dataclass(frozen=True)
class KickLaw:
    """The kick an arrived input gives its neuron when its spike line switches off at the firing start, per branch
    against the weight magnitude (signed: + NMOS, - PMOS; v_th units), and the branches' turn-on delays after the
    input spike (t_circ units). Measured by ``imc-extract`` (extract/kicks.py)."""

    n_w: tuple[float, ...]
    n_kick: tuple[float, ...]
    p_w: tuple[float, ...]
    p_kick: tuple[float, ...]
    n_delay: float = 0.0
    p_delay: float = 0.0

    @property
    def has_delays(self) -> bool:
        return bool(self.n_delay or self.p_delay)

    def table(self) -> dict[str, Any]:
        """The arguments of ``imcpnn.models.functional.SpikeLineKick``."""
        return {"n_w": list(self.n_w), "n_kick": list(self.n_kick), "p_w": list(self.p_w), "p_kick": list(self.p_kick)}


@dataclass(frozen=True)
class LambdaTable:
    """Channel-length-modulation coefficient lambda (1/V) against the synapse current (A) per branch: each synapse
    gets beta(w) = lambda(w i_unit) v_th instead of one 1/E per sign (the per-synapse reversal potential)."""

    i_unit: float
    v_th: float
    n_current: tuple[float, ...]
    n_lambda: tuple[float, ...]
    p_current: tuple[float, ...]
    p_lambda: tuple[float, ...]

    def table(self) -> dict[str, Any]:
        """The arguments of ``imcpnn.models.functional.CurrentDependentBeta``."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class LayerModel:
    """What one layer's forward pass needs.

    e_plus, e_minus: reversal potentials of the excitatory / inhibitory branch (inf / -inf: ideal current sources).
    e_dis: reversal potential of the discharger in the firing phase (inf: the ideal linear ramp).
    alpha_dis: firing-ramp rate dv/dt at v = 0 (None: the paper's, -ln(1 - 1/e_dis) e_dis, so that v = 0 fires
        exactly at the end of the firing phase).
    fire_threshold: the level the ramp must reach (1 + the comparator's dynamic offset).
    t_min: the comparator's latency, the earliest spike in the firing phase.
    leak: decay constant of the accumulation, dv/dt = -leak v (1/t_circ).
    lambda_table: per-synapse reversal potentials (None: e_plus / e_minus).
    kicks: spike-line kicks and turn-on delays of this layer's inputs (None: none).
    charge_scale: C_eff at the cell's characterised fan-in over C_eff at this layer's fan-in. Every synapse adds its
        capacitance to the membrane, so at another fan-in the same currents (synapses, discharger) and the same kick
        charges move v by this factor: the layer multiplies its weights, its firing-ramp rate and its kicks by it
        (1: the characterised fan-in, or a model without a fan-in law).
    """

    e_plus: float = math.inf
    e_minus: float = -math.inf
    e_dis: float = math.inf
    alpha_dis: float | None = None
    fire_threshold: float = 1.0
    t_min: float = 0.0
    leak: float = 0.0
    lambda_table: LambdaTable | None = None
    kicks: KickLaw | None = None
    charge_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.e_plus > 0 > self.e_minus):
            raise ConfigError(f"neuron model: need e_plus > 0 > e_minus, got {self.e_plus}, {self.e_minus}")
        if not self.e_dis > 1:
            raise ConfigError(f"neuron model: e_dis must be > 1 (a ramp that reaches the threshold), got {self.e_dis}")
        if self.alpha_dis is not None and not (math.isfinite(self.alpha_dis) and self.alpha_dis > 0):
            raise ConfigError(f"neuron model: alpha_dis must be a positive number, got {self.alpha_dis}")
        if not (self.fire_threshold > 0 and 0 <= self.t_min < 1 and self.leak >= 0):
            raise ConfigError("neuron model: need fire_threshold > 0, 0 <= t_min < 1 and leak >= 0")
        if not (math.isfinite(self.charge_scale) and self.charge_scale > 0):
            raise ConfigError(f"neuron model: charge_scale must be a positive number, got {self.charge_scale}")

    @property
    def ramp_rate(self) -> float | None:
        """The firing-ramp rate this layer uses: alpha_dis (or the paper's, from e_dis) times charge_scale; None for
        the paper's ramp at the characterised fan-in (the same number, computed by the firing law itself)."""
        if self.charge_scale == 1.0:
            return self.alpha_dis
        return FiringLaw.from_cell(self.alpha_dis, self.fire_threshold, self.t_min, self.e_dis).alpha * self.charge_scale


@dataclass(frozen=True)
class NeuronModel(LayerModel):
    """The model of every layer of a network: :class:`LayerModel` fields shared by all layers, the kicks of
    stimulus-fed (first) and neuron-fed (later) layers, the exportable weight range and where it all came from."""

    kicks_neuron: KickLaw | None = None
    w_min: float | None = None
    w_max: float | None = None
    #: the membrane's effective capacitance (F) measured at several fan-ins, and the fan-in the cell's other
    #: quantities were characterised at (None: no fan-in law, every layer at charge_scale 1)
    c_eff: tuple[tuple[int, float], ...] | None = None
    design_fan_in: int | None = None
    source: str = ""

    def layer(self, index: int, fan_in: int | None = None) -> LayerModel:
        """The model of layer ``index`` (0-based) with ``fan_in`` synapses per neuron: the first is fed by the
        stimulus, later ones by neurons (their own kicks when measured, else the stimulus-fed ones); the charge
        scale from the fan-in law (:meth:`scale_at`)."""
        kicks = self.kicks if index == 0 or self.kicks_neuron is None else self.kicks_neuron
        shared = {f.name: getattr(self, f.name) for f in fields(LayerModel)}
        scale = 1.0 if fan_in is None else self.scale_at(fan_in)
        return LayerModel(**{**shared, "kicks": kicks, "charge_scale": scale})

    def scale_at(self, fan_in: int) -> float:
        """C_eff(design fan-in) / C_eff(fan_in) from a straight line fitted to the measured C_eff points (each
        synapse adds the same gate-drain overlap to the membrane); exactly 1 at the design fan-in."""
        if self.c_eff is None or self.design_fan_in is None:
            return 1.0
        c0, k = c_eff_law(self.c_eff)
        return (c0 + k * self.design_fan_in) / (c0 + k * int(fan_in))

    # -------------------------------------------------------------------------------------------- variants
    def with_kicks(self, stimulus: KickLaw | None, neuron: KickLaw | None) -> "NeuronModel":
        return replace(self, kicks=stimulus, kicks_neuron=neuron)

    def with_reversal(self, e_rev: float) -> "NeuronModel":
        """A symmetric |E| in place of the measured reversal potentials (robustness studies): the per-synapse
        lambda and the kicks, which belong to the measured cell, are dropped too."""
        return replace(self, e_plus=float(e_rev), e_minus=-float(e_rev), lambda_table=None, kicks=None,
                       kicks_neuron=None)

    def at_level(self, level: str) -> "NeuronModel":
        """This (full bottom-up) model at one level of :data:`LADDER`: the refinements of the later levels switched
        off. ``paper``: E+ / E- and E_dis, threshold 1, the paper's ramp rate, no latency, no per-synapse lambda, no
        kicks, no turn-on delays, no fan-in law. ``+threshold``: the measured effective threshold. ``+lambda-table``:
        per-synapse lambda. ``+firing-law``: the measured ramp rate and latency. ``+kicks``: the stimulus-fed kick
        table, for every layer. ``+neuron-kicks``: layers 2.. take the neuron-fed table. ``+delays``: the branches'
        turn-on delays. ``+fan-in``: the fan-in law; this level is the model itself."""
        if level not in LADDER:
            raise ConfigError(f"unknown model level {level!r}; the ladder is {', '.join(LADDER)}")
        return self.refined(LADDER[1:LADDER.index(level) + 1])

    def refined(self, steps: "tuple[str, ...] | set[str]") -> "NeuronModel":
        """This (full bottom-up) model with only the refinements ``steps`` (names from :data:`LADDER` after
        ``paper``) on: :meth:`at_level` climbs the ladder, ``set(LADDER[1:]) - {step}`` leaves one step out."""
        on = set(steps)
        if on - set(LADDER[1:]):
            raise ConfigError(f"unknown refinement(s) {', '.join(sorted(on - set(LADDER[1:])))}")
        stimulus = self.kicks if "+kicks" in on else None
        neuron = self.kicks_neuron if "+neuron-kicks" in on else None
        if "+delays" not in on:
            stimulus, neuron = _without_delays(stimulus), _without_delays(neuron)
        law = "+firing-law" in on
        fan_in = "+fan-in" in on
        return replace(self, fire_threshold=self.fire_threshold if "+threshold" in on else 1.0,
                       alpha_dis=self.alpha_dis if law else None, t_min=self.t_min if law else 0.0,
                       lambda_table=self.lambda_table if "+lambda-table" in on else None,
                       kicks=stimulus, kicks_neuron=neuron, c_eff=self.c_eff if fan_in else None,
                       design_fan_in=self.design_fan_in if fan_in else None)

    # -------------------------------------------------------------------------------------------- from a cell
    @classmethod
    def from_cell(cls, cell: "CellParams", *, lambda_table: bool = True, kicks: bool = True, firing: bool = True,
                  e_dis: bool = True, weight_range: bool = True, fan_in: bool = True,
                  source: str = "") -> "NeuronModel":
        """The bottom-up model of a cell. The switches leave out one refinement each (ablations, configs).

        The cell's leak is a drift (dv/dt with every input off, at rest); the model's leak is a decay toward 0 and
        cannot express a drift, so it stays 0. This is the one place that decides it: the measured drift is
        ~1e-4 v_th per phase on the tt cell (docs/extraction.md), well below the model's other errors."""
        use_fire = firing and e_dis
        return cls(
            e_plus=cell.e_rev_plus, e_minus=cell.e_rev_minus, e_dis=cell.e_dis if e_dis else math.inf,
            alpha_dis=cell.alpha_dis if use_fire else None,
            fire_threshold=cell.fire_threshold if use_fire else 1.0,
            t_min=cell.fire_t_min if use_fire else 0.0, leak=0.0,
            lambda_table=_lambda_of(cell) if lambda_table else None,
            kicks=_kicks_of(cell.kicks) if kicks else None,
            kicks_neuron=_kicks_of(cell.kicks_neuron) if kicks else None,
            w_min=-cell.w_max_minus if weight_range else None, w_max=cell.w_max_plus if weight_range else None,
            c_eff=tuple((f.n_in, f.c_m) for f in cell.c_m_per_fanin) if fan_in and cell.c_m_per_fanin else None,
            design_fan_in=cell.design_fan_in if fan_in else None, source=source)

    # -------------------------------------------------------------------------------------------- records
    def describe(self) -> dict[str, Any]:
        """Scalars and which refinements are on, for reports and summaries (JSON-safe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                v = str(v)
            if f.name in ("lambda_table", "kicks", "kicks_neuron", "c_eff"):
                continue
            out[f.name] = v
        out["per_synapse_lambda"] = self.lambda_table is not None
        out["spike_line_kicks"] = self.kicks is not None
        out["neuron_fed_kicks"] = self.kicks_neuron is not None
        out["fan_in_law"] = self.c_eff is not None
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = str(v)
        return {"schema_version": MODEL_SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model") -> "NeuronModel":
        data = dict(data)
        version = data.pop("schema_version", None)
        if version != MODEL_SCHEMA_VERSION:
            raise ConfigError(f"{where}: neuron-model schema_version {version!r} is not supported "
                              f"(expected {MODEL_SCHEMA_VERSION}); retrain the run with this version")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown neuron-model field(s) {', '.join(unknown)}")
        try:
            for k in ("e_plus", "e_minus", "e_dis"):
                if k in data:
                    data[k] = float(data[k])
            if data.get("lambda_table") is not None:
                data["lambda_table"] = LambdaTable(**_tuples(data["lambda_table"]))
            for k in ("kicks", "kicks_neuron"):
                if data.get(k) is not None:
                    data[k] = KickLaw(**_tuples(data[k]))
            if data.get("c_eff") is not None:
                data["c_eff"] = tuple((int(n), float(c)) for n, c in data["c_eff"])
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: invalid neuron model ({exc})") from None

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "NeuronModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path} not found: the run directory has no neuron model (made by an older "
                              f"imc-pnn?); retrain it") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable neuron-model JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a neuron model must be a JSON object")
        return cls.from_dict(data, str(path))


def c_eff_law(points: tuple[tuple[int, float], ...]) -> tuple[float, float]:
    """(C0, dC per synapse) of the least-squares line through the measured (fan-in, C_eff) points."""
    n = [float(a) for a, _ in points]
    c = [float(b) for _, b in points]
    if len(points) < 2 or max(n) == min(n):
        return (c[0] if c else 1.0), 0.0
    mn, mc = sum(n) / len(n), sum(c) / len(c)
    k = sum((a - mn) * (b - mc) for a, b in zip(n, c)) / sum((a - mn) ** 2 for a in n)
    return mc - k * mn, k


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (tuple(float(x) for x in v) if isinstance(v, list) else v) for k, v in d.items()}


def _kicks_of(table: Any) -> KickLaw | None:
    if table is None:
        return None
    return KickLaw(tuple(table.n_w), tuple(table.n_kick), tuple(table.p_w), tuple(table.p_kick),
                   float(table.n_delay), float(table.p_delay))


def _without_delays(kicks: KickLaw | None) -> KickLaw | None:
    return None if kicks is None else replace(kicks, n_delay=0.0, p_delay=0.0)


def _lambda_of(cell: "CellParams") -> LambdaTable:
    """lambda against current per branch, sorted by current with duplicate currents dropped (the interpolation
    needs strictly increasing abscissae)."""
    cols: dict[str, tuple[float, ...]] = {}
    for br in ("n", "p"):
        t = cell.bias_tables[br]
        cur: list[float] = []
        lam: list[float] = []
        for c, l in sorted(zip(t.i_v0, t.lam)):
            if not cur or c > cur[-1]:
                cur.append(float(c))
                lam.append(float(l))
        cols[f"{br}_current"], cols[f"{br}_lambda"] = tuple(cur), tuple(lam)
    return LambdaTable(i_unit=cell.i_unit, v_th=cell.v_th, **cols)


__all__ = ["KickLaw", "LADDER", "LambdaTable", "LayerModel", "NeuronModel", "MODEL_SCHEMA_VERSION", "c_eff_law"]
