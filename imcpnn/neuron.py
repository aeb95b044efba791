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

import numpy as np

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

    def blend(self, other: "KickLaw", f: float) -> "KickLaw":
        """(1 - f) self + f other: the kicks at the union of both tables' weights (each table piecewise linear in
        log w and clamped at its ends, as SpikeLineKick reads it, so the blend is exact between the knots) and the
        delays."""
        cols: dict[str, tuple[float, ...]] = {}
        for br in ("n", "p"):
            wa, ka = getattr(self, f"{br}_w"), getattr(self, f"{br}_kick")
            wb, kb = getattr(other, f"{br}_w"), getattr(other, f"{br}_kick")
            w = np.array(sorted(set(wa) | set(wb)))
            ya = np.interp(np.log(w), np.log(wa), ka)
            yb = np.interp(np.log(w), np.log(wb), kb)
            cols[f"{br}_w"], cols[f"{br}_kick"] = tuple(map(float, w)), tuple(map(float, (1 - f) * ya + f * yb))
        return KickLaw(**cols, n_delay=(1 - f) * self.n_delay + f * other.n_delay,
                       p_delay=(1 - f) * self.p_delay + f * other.p_delay)


@dataclass(frozen=True)
class KickLevelLaw:
    """The kicks' dependence on the membrane level v at the firing start, per branch against the weight magnitude
    (interpolated in log w, held at the ends): a synapse's kick is kick(w) (1 + slope(w) (v - v(w))), v(w) the level
    its kick was measured at. A kick is charge the switching selector pushes into the membrane, and how much of its
    channel charge goes there depends on the membrane's voltage (docs/verification.md)."""

    n_w: tuple[float, ...]
    n_slope: tuple[float, ...]
    n_v: tuple[float, ...]
    p_w: tuple[float, ...]
    p_slope: tuple[float, ...]
    p_v: tuple[float, ...]

    def tables(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The arguments of two ``SpikeLineKick``s: the slope and the level against the weight."""
        return tuple({"n_w": list(self.n_w), "n_kick": list(getattr(self, f"n_{k}")), "p_w": list(self.p_w),
                      "p_kick": list(getattr(self, f"p_{k}"))} for k in ("slope", "v"))


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
        (1: the characterised fan-in, or a model without a fan-in law). Two more charges follow it (:attr:`threshold`):
        the comparator's overshoot past 1 is a fixed time on the ramp, so it scales with the ramp rate, and the reset
        switch's release charge (``reset_offset`` at the characterised fan-in) lifts the start level less.
    reset_offset: (v_reset - V0) / v_th at the characterised fan-in: where the reset switch leaves the membrane, the
        origin of the model's v (0: a model without a fan-in law).
    early: the early spikes, measured: (v, t) points of a membrane at or past the threshold when the firing phase
        starts (imc-extract's early-spike transients, extract/firing.py); the spike comes at the later of the ramp's
        time and these points' (``models.functional.fire_time``). A comparator with little overdrive is slow (17 ns
        at 0.01 v_th past the threshold, against t_min's 4 ns at 1 v_th). Measured in v, the same at every fan-in
        (fan-in 5 and 32 agree to 0.05 ns, docs/verification.md), so the charge scale leaves it alone. None: t_min.
    kick_level: how the kicks change with the membrane level v at the firing start (:class:`KickLevelLaw`: each
        synapse's kick times 1 + slope(w) (v - v(w)), measured with the stimulus-fed kicks at two levels and used for
        the neuron-fed ones too; None: kicks independent of v).
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
    reset_offset: float = 0.0
    early: tuple[tuple[float, float], ...] | None = None
    kick_level: "KickLevelLaw | None" = None

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
        if not (math.isfinite(self.reset_offset) and self.threshold > 0):
            raise ConfigError(f"neuron model: reset_offset must be a number that leaves a positive threshold, got "
                              f"{self.reset_offset}")
        if self.early is not None:
            v = [p[0] for p in self.early]
            if len(v) < 2 or any(b <= a for a, b in zip(v, v[1:])) or not all(0 <= p[1] <= 1 for p in self.early):
                raise ConfigError("neuron model: early needs >= 2 (v, t) points, v strictly increasing, t in [0, 1]")

    @property
    def threshold(self) -> float:
        """The level this layer's ramp must reach, in the model's v (from the reset level at the characterised
        fan-in). Measured at fan-in 64 and 256 (docs/verification.md): the comparator's overshoot
        fire_threshold - 1 is a fixed time after the ramp crosses its switching point, so it shrinks with the ramp
        (x charge_scale), and the membrane starts reset_offset (1 - charge_scale) closer to the threshold, since the
        reset switch's release charge lands on a larger capacitance. Exactly fire_threshold at charge_scale 1."""
        s = self.charge_scale
        if s == 1.0:
            return self.fire_threshold
        return 1.0 + (self.fire_threshold - 1.0) * s - self.reset_offset * (1.0 - s)

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
    #: the neuron-fed kicks measured at several fan-outs of the driving spike line, ascending (None: kicks_neuron at
    #: every fan-out)
    kicks_neuron_fan_out: tuple[tuple[int, KickLaw], ...] | None = None
    source: str = ""

    def layer(self, index: int, fan_in: int | None = None, fan_out: int | None = None) -> LayerModel:
        """The model of layer ``index`` (0-based) with ``fan_in`` synapses per neuron, whose input spike lines each
        drive ``fan_out`` synapses (its number of neurons): the first is fed by the stimulus, later ones by neurons
        (their own kicks when measured, at the fan-out of their lines: :meth:`kicks_at`); the charge scale from the
        fan-in law (:meth:`scale_at`)."""
        kicks = self.kicks if index == 0 or self.kicks_neuron is None else self.kicks_at(fan_out)
        shared = {f.name: getattr(self, f.name) for f in fields(LayerModel)}
        scale = 1.0 if fan_in is None else self.scale_at(fan_in)
        return LayerModel(**{**shared, "kicks": kicks, "charge_scale": scale})

    def kicks_at(self, fan_out: int | None) -> KickLaw | None:
        """The neuron-fed kicks for spike lines of ``fan_out`` synapse gates: interpolated linearly in log fan-out
        between the measured fan-outs, held at the nearest one outside them (the CLIs warn there)."""
        table = self.kicks_neuron_fan_out
        if fan_out is None or not table:
            return self.kicks_neuron
        if fan_out <= table[0][0]:
            return table[0][1]
        for (fa, ka), (fb, kb) in zip(table, table[1:]):
            if fan_out <= fb:
                f = (math.log(fan_out) - math.log(fa)) / (math.log(fb) - math.log(fa))
                return kb if f == 1.0 else ka.blend(kb, f)
        return table[-1][1]

    def scale_at(self, fan_in: int) -> float:
        """C_eff(design fan-in) / C_eff(fan_in) through the measured C_eff points (:func:`c_eff_at`); exactly 1 at
        the design fan-in."""
        if self.c_eff is None or self.design_fan_in is None:
            return 1.0
        if int(fan_in) == self.design_fan_in:
            return 1.0
        return c_eff_at(self.c_eff, self.design_fan_in) / c_eff_at(self.c_eff, int(fan_in))

    # -------------------------------------------------------------------------------------------- variants
    def with_kicks(self, stimulus: KickLaw | None, neuron: KickLaw | None) -> "NeuronModel":
        return replace(self, kicks=stimulus, kicks_neuron=neuron, kicks_neuron_fan_out=None)

    def with_reversal(self, e_rev: float) -> "NeuronModel":
        """A symmetric |E| in place of the measured reversal potentials (robustness studies): the per-synapse
        lambda and the kicks, which belong to the measured cell, are dropped too."""
        return replace(self, e_plus=float(e_rev), e_minus=-float(e_rev), lambda_table=None, kicks=None,
                       kicks_neuron=None, kicks_neuron_fan_out=None)

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
        by_fan_out = self.kicks_neuron_fan_out if "+neuron-kicks" in on else None
        if "+delays" not in on:
            stimulus, neuron = _without_delays(stimulus), _without_delays(neuron)
            by_fan_out = None if by_fan_out is None else tuple((f, _without_delays(k)) for f, k in by_fan_out)
        law = "+firing-law" in on
        fan_in = "+fan-in" in on
        return replace(self, fire_threshold=self.fire_threshold if "+threshold" in on else 1.0,
                       alpha_dis=self.alpha_dis if law else None, t_min=self.t_min if law else 0.0,
                       lambda_table=self.lambda_table if "+lambda-table" in on else None,
                       kicks=stimulus, kicks_neuron=neuron, kicks_neuron_fan_out=by_fan_out,
                       c_eff=self.c_eff if fan_in else None, design_fan_in=self.design_fan_in if fan_in else None,
                       reset_offset=self.reset_offset if fan_in else 0.0, early=self.early if law else None,
                       kick_level=self.kick_level if stimulus is not None or neuron is not None else None)

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
            kicks_neuron_fan_out=_fan_out_kicks(cell) if kicks else None,
            w_min=-cell.w_max_minus if weight_range else None, w_max=cell.w_max_plus if weight_range else None,
            c_eff=tuple((f.n_in, f.c_m) for f in cell.c_m_per_fanin) if fan_in and cell.c_m_per_fanin else None,
            design_fan_in=cell.design_fan_in if fan_in else None,
            reset_offset=(cell.v_reset - cell.v0) / cell.v_th if fan_in and cell.v_reset is not None else 0.0,
            early=_early_of(cell) if use_fire else None, kick_level=_kick_level_of(cell) if kicks else None,
            source=source)

    # -------------------------------------------------------------------------------------------- records
    def describe(self) -> dict[str, Any]:
        """Scalars and which refinements are on, for reports and summaries (JSON-safe)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                v = str(v)
            if f.name in ("lambda_table", "kicks", "kicks_neuron", "c_eff", "kicks_neuron_fan_out", "early",
                          "kick_level"):
                continue
            out[f.name] = v
        out["per_synapse_lambda"] = self.lambda_table is not None
        out["spike_line_kicks"] = self.kicks is not None
        out["neuron_fed_kicks"] = self.kicks_neuron is not None
        out["fan_in_law"] = self.c_eff is not None
        out["early_spikes"] = self.early is not None
        out["kick_level_law"] = self.kick_level is not None
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
            if data.get("kicks_neuron_fan_out") is not None:
                data["kicks_neuron_fan_out"] = tuple((int(f), KickLaw(**_tuples(k)))
                                                     for f, k in data["kicks_neuron_fan_out"])
            if data.get("c_eff") is not None:
                data["c_eff"] = tuple((int(n), float(c)) for n, c in data["c_eff"])
            if data.get("kick_level") is not None:
                data["kick_level"] = KickLevelLaw(**_tuples(data["kick_level"]))
            if data.get("early") is not None:
                data["early"] = tuple((float(v), float(t)) for v, t in data["early"])
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


def c_eff_at(points: tuple[tuple[int, float], ...], fan_in: float) -> float:
    """C_eff (F) at ``fan_in``, piecewise linear through the measured (fan-in, C_eff) points and continued along the
    end segments beyond them. Each synapse adds nearly the same overlap capacitance (0.61 fF on the tt cell), but not
    exactly: a line through fan-ins 0..20 misses the measured C_eff by 0.17 % at 256 and 0.24 % at 1024, ~4 ns of
    spike time at 256 (docs/verification.md); each measured point left out, its neighbours predict it to 0.1 %."""
    pts = sorted((float(n), float(c)) for n, c in points)
    if len(pts) == 1:
        return pts[0][1]
    k = 1
    while k < len(pts) - 1 and fan_in > pts[k][0]:
        k += 1
    (n0, c0), (n1, c1) = pts[k - 1], pts[k]
    return c0 + (c1 - c0) * (fan_in - n0) / (n1 - n0)


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (tuple(float(x) for x in v) if isinstance(v, list) else v) for k, v in d.items()}


def _kicks_of(table: Any) -> KickLaw | None:
    if table is None:
        return None
    return KickLaw(tuple(table.n_w), tuple(table.n_kick), tuple(table.p_w), tuple(table.p_kick),
                   float(table.n_delay), float(table.p_delay))


def _fan_out_kicks(cell: "CellParams") -> tuple[tuple[int, KickLaw], ...] | None:
    """The neuron-fed kicks at every measured fan-out, ascending (None: measured at one fan-out only)."""
    tables = cell.neuron_kicks_by_fan_out()
    return tuple((f, _kicks_of(t)) for f, t in tables) if len(tables) > 1 else None


def _early_of(cell: "CellParams") -> tuple[tuple[float, float], ...] | None:
    """The cell's early-spike points (None: a cell measured without them)."""
    e = cell.fire_early
    return None if e is None else tuple((float(v), float(t)) for v, t in zip(e.v, e.t))


def _kick_level_of(cell: "CellParams") -> "KickLevelLaw | None":
    k = cell.kick_level
    return None if k is None else KickLevelLaw(**_tuples(k.model_dump()))


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


__all__ = ["KickLaw", "KickLevelLaw", "LADDER", "LambdaTable", "LayerModel", "NeuronModel", "MODEL_SCHEMA_VERSION",
           "c_eff_at"]
