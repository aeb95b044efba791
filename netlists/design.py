"""The cell design record: every device flavour and size, the membrane capacitor, supplies, biases and phase timing.

A :class:`CellDesign` is a frozen, validated dataclass.  ``default_design()`` is the design documented in
``docs/circuit.md`` (``sky130-rcspike``) that meets the targets of issue 3 in ngspice (tt, 27 C).  Variants are derived
with :func:`dataclasses.replace` / :meth:`CellDesign.derive` or read from JSON/YAML with :func:`load_design`.

Units: volts, seconds, micrometres (W/L of sky130 subcircuits are written without unit suffix, the library sets
``.option scale=1.0u``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from imcpnn.errors import ConfigError
from imcpnn.userfiles import read_user_text

#: device flavours this generator knows (sky130_fd_pr__<flavour>), with their polarity
FET_FLAVOURS: dict[str, str] = {
    "nfet_01v8": "n",
    "nfet_01v8_lvt": "n",
    "pfet_01v8": "p",
    "pfet_01v8_hvt": "p",
}
#: MIM flavours: m3_1 = metal3/metal4, m3_2 = metal4/metal5
MIM_FLAVOURS = ("cap_mim_m3_1", "cap_mim_m3_2")
#: how netlists write the devices (CellDesign.device_form)
DEVICE_FORMS = ("subckt", "flat")
#: how a verification integrates (with_integration): the design's own settings, or ngspice's device bypass at half
#: the design's reltol (faster and no further from a tight solution: docs/verification.md "The grid's integration
#: settings")
INTEGRATIONS = ("design", "bypass")

#: design files are validated with pydantic (load_design): unknown keys are errors, not silently dropped
_STRICT = ConfigDict(extra="forbid")

#: minimum drawn sizes (um) accepted by the sky130 01v8 models
_MIN_W = 0.42
_MIN_L = 0.15


@dataclass(frozen=True)
class Fet:
    """One MOSFET: sky130 flavour (without the ``sky130_fd_pr__`` prefix), W and L in um, fingers, multiplicity."""

    __pydantic_config__ = _STRICT

    flavour: str
    w: float
    l: float
    nf: int = 1
    m: int = 1

    def __post_init__(self) -> None:
        if self.flavour not in FET_FLAVOURS:
            raise ConfigError(f"unknown FET flavour {self.flavour!r}; use one of {sorted(FET_FLAVOURS)}")
        if not (self.w >= _MIN_W and self.l >= _MIN_L):
            raise ConfigError(f"FET {self.flavour} W={self.w} L={self.l}: W >= {_MIN_W} um and L >= {_MIN_L} um needed")
        if self.nf < 1 or self.m < 1:
            raise ConfigError("nf and m must be >= 1")

    @property
    def polarity(self) -> str:
        return FET_FLAVOURS[self.flavour]

    def instance(self, name: str, d: str, g: str, s: str, b: str) -> str:
        """The SPICE instance line (deterministic number formatting)."""
        line = f"X{name} {d} {g} {s} {b} sky130_fd_pr__{self.flavour} W={_fmt(self.w)} L={_fmt(self.l)} nf={self.nf}"
        if self.m != 1:
            line += f" m={self.m}"
        return line


@dataclass(frozen=True)
class Mim:
    """The membrane MIM capacitor; top plate = membrane, bottom plate = ground (shield)."""

    __pydantic_config__ = _STRICT

    flavour: str = "cap_mim_m3_2"
    w: float = 7.0
    l: float = 7.0

    def __post_init__(self) -> None:
        if self.flavour not in MIM_FLAVOURS:
            raise ConfigError(f"unknown MIM flavour {self.flavour!r}; use one of {MIM_FLAVOURS}")
        if not (2.0 <= self.w <= 30.0 and 2.0 <= self.l <= 30.0):
            raise ConfigError(f"MIM W={self.w} L={self.l}: both must be within [2, 30] um")

    def instance(self, name: str, top: str, bot: str) -> str:
        return f"X{name} {top} {bot} sky130_fd_pr__{self.flavour} W={_fmt(self.w)} L={_fmt(self.l)}"


def _fmt(x: float) -> str:
    """Deterministic, compact number formatting for netlists (``%.6g``)."""
    return f"{float(x):.6g}"


@dataclass(frozen=True)
class CellDesign:
    """Everything needed to write the synapse, neuron, layer and network netlists.

    Timing: each phase lasts ``t_circ``; every clock edge (phase, reset) is a linear ramp of total duration
    ``t_edge`` centred on its nominal time (so the 50 % point is exactly at the phase boundary), and the input spikes'
    edges last ``t_spike_edge``, also centred (default 2 ns like the clocks). A neuron's own latched output switches
    far faster; stimulus edges about as fast were tried too (docs/verification.md): they make the first layer behave
    like the later ones but did not improve the model-to-circuit error overall.
    """

    __pydantic_config__ = _STRICT

    name: str = "sky130-rcspike"
    # supplies and operating point
    vdd: float = 1.8
    v0: float = 1.3
    t_circ: float = 1e-6
    t_edge: float = 2e-9
    t_spike_edge: float = 2e-9
    v_b_dis: float = 0.5391
    v_b_sense: float = 1.16
    # membrane
    c_m: Mim = field(default_factory=Mim)
    # synapse (memory = current source with gate bias, selector = switch gated by the spike)
    syn_n_mem: Fet = field(default_factory=lambda: Fet("nfet_01v8", 1.0, 0.25))
    syn_n_sel: Fet = field(default_factory=lambda: Fet("nfet_01v8", 1.0, 0.25))
    syn_p_mem: Fet = field(default_factory=lambda: Fet("pfet_01v8", 1.0, 0.25))
    syn_p_sel: Fet = field(default_factory=lambda: Fet("pfet_01v8", 1.0, 0.25))
    #: "memory" = memory transistor's drain on the membrane, selector towards the rail (measured better, circuit.md)
    syn_order: str = "memory"
    # neuron: reset switch (PMOS from the V0 rail, gate = reset_b)
    reset_p: Fet = field(default_factory=lambda: Fet("pfet_01v8", 0.5, 0.15))
    # discharger: bias NMOS (drain on membrane) + phase switch NMOS to ground
    dis_bias: Fet = field(default_factory=lambda: Fet("nfet_01v8", 1.0, 1.0))
    dis_sw: Fet = field(default_factory=lambda: Fet("nfet_01v8", 1.0, 0.15))
    # sensing stage: vdd - en_p(phase_b) - bias_p(v_b_sense) - in_p(mem) - sense - in_n(mem) - gnd; off_n pulls sense low
    sense_in_n: Fet = field(default_factory=lambda: Fet("nfet_01v8_lvt", 4.0, 0.15))
    sense_in_p: Fet = field(default_factory=lambda: Fet("pfet_01v8_hvt", 2.0, 0.15))
    sense_bias_p: Fet = field(default_factory=lambda: Fet("pfet_01v8", 2.0, 0.15))
    sense_en_p: Fet = field(default_factory=lambda: Fet("pfet_01v8", 1.0, 0.15))
    sense_off_n: Fet = field(default_factory=lambda: Fet("nfet_01v8", 0.42, 0.15))
    # digital: NAND gates of the set gate and the SR latch, output buffers
    logic_n: Fet = field(default_factory=lambda: Fet("nfet_01v8", 0.84, 0.15))
    logic_p: Fet = field(default_factory=lambda: Fet("pfet_01v8", 1.0, 0.15))
    buf_n: Fet = field(default_factory=lambda: Fet("nfet_01v8", 1.0, 0.15))
    buf_p: Fet = field(default_factory=lambda: Fet("pfet_01v8", 2.0, 0.15))
    # transient accuracy (written into .options / .tran of the network netlist)
    max_step: float = 20e-9
    reltol: float = 1e-4
    #: charge floor of the step-size control: ngspice's default (1e-14 C, 10 % of the membrane's threshold charge)
    #: lets the small device charges around the synapse move the spike times by a sizeable part of the model error
    #: being measured; 1e-15 brings that far below it for a modest increase in transient time, while 1e-16 would
    #: push the verification past its time budget (figures: docs/circuit.md "Simulation options", re-measured by
    #: benchmarks/spice_convergence.py)
    chgtol: float = 1e-15
    #: integration method: at the same chgtol trapezoidal integration is both faster than gear-2 here and closer to
    #: the converged spike times (figures: docs/circuit.md "Simulation options")
    method: str = "trap"
    #: how the sky130 devices are written: "subckt" = instances of the PDK's wrapper subcircuits (which copy every
    #: model bin into every instance), "flat" = direct instances of the bins used, placed once per netlist
    #: (imcpnn.pdk.flat; same currents, set-up time and memory linear in the device count: docs/circuit.md
    #: "Netlist scale")
    device_form: str = "subckt"
    #: ngspice's device bypass (`.options bypass=1`, off in ngspice by default): a device whose terminal voltages
    #: moved less than the tolerances since its last evaluation keeps its last currents and charges. Most of a
    #: network is quiet at any instant and device evaluation is most of a transient's CPU, so bypass with half the
    #: reltol (with_integration) takes 1.16x less CPU over a whole grid and is closer to the reltol 1e-5 solution
    #: over 7 conditions (docs/verification.md "The grid's integration settings")
    bypass: bool = False

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ConfigError(f"design name {self.name!r} must be non-empty without spaces")
        if not (1.0 <= self.vdd <= 1.98):
            raise ConfigError(f"vdd={self.vdd} V outside [1.0, 1.98] V (1.8 V devices)")
        if not (0.0 < self.v0 < self.vdd):
            raise ConfigError(f"v0={self.v0} V must lie within (0, vdd)")
        if not (1e-8 <= self.t_circ <= 1e-3):
            raise ConfigError(f"t_circ={self.t_circ} s outside [10 ns, 1 ms]")
        if not (0.0 < self.t_edge <= 0.05 * self.t_circ):
            raise ConfigError(f"t_edge={self.t_edge} s must be > 0 and <= 5 % of t_circ")
        if not (0.0 < self.t_spike_edge <= self.t_edge):
            raise ConfigError(f"t_spike_edge={self.t_spike_edge} s must be > 0 and <= t_edge")
        for b in ("v_b_dis", "v_b_sense"):
            v = getattr(self, b)
            if not (0.0 <= v <= self.vdd):
                raise ConfigError(f"{b}={v} V outside [0, vdd]")
        if self.syn_order not in ("memory", "selector"):
            raise ConfigError("syn_order must be 'memory' (memory drain on the membrane) or 'selector'")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Fet):
                if f.name.endswith("_p") and v.polarity != "p":
                    raise ConfigError(f"{f.name} must be a PMOS flavour, got {v.flavour}")
                if f.name.endswith("_n") and v.polarity != "n":
                    raise ConfigError(f"{f.name} must be an NMOS flavour, got {v.flavour}")
        for f_name in ("syn_n_mem", "syn_n_sel", "dis_bias", "dis_sw"):
            if getattr(self, f_name).polarity != "n":
                raise ConfigError(f"{f_name} must be an NMOS flavour")
        for f_name in ("syn_p_mem", "syn_p_sel"):
            if getattr(self, f_name).polarity != "p":
                raise ConfigError(f"{f_name} must be a PMOS flavour")
        if not (0 < self.max_step <= 0.05 * self.t_circ):
            raise ConfigError("max_step must be > 0 and <= 5 % of t_circ")
        if not (1e-6 <= self.reltol <= 1e-2):
            raise ConfigError("reltol must lie within [1e-6, 1e-2]")
        if not (1e-20 <= self.chgtol <= 1e-12):
            raise ConfigError("chgtol must lie within [1e-20, 1e-12] C")
        if self.method not in ("trap", "gear"):
            raise ConfigError(f"method must be 'trap' or 'gear', got {self.method!r}")
        if not isinstance(self.bypass, bool):
            raise ConfigError(f"bypass must be true or false, got {self.bypass!r}")
        if self.device_form not in DEVICE_FORMS:
            raise ConfigError(f"device_form must be one of {DEVICE_FORMS}, got {self.device_form!r}")

    # ------------------------------------------------------------------ records
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CellDesign":
        if not isinstance(d, Mapping):
            raise ConfigError("a cell design must be a mapping")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"unknown cell-design fields {unknown}; known: {sorted(known)}")
        try:
            return TypeAdapter(cls).validate_python(dict(d))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            got = repr(first.get("input"))[:60]
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ConfigError(f"cell-design field '{where}': {first['msg']} (got {got}){more}") from None

    def derive(self, **changes: Any) -> "CellDesign":
        """A variant with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def with_integration(self, integration: str) -> "CellDesign":
        """The design simulated with one of INTEGRATIONS: as it is ('design'), or with ngspice's device bypass at
        half its reltol ('bypass'; at the full reltol bypass alone moves spike times by up to 0.2 ns)."""
        if integration not in INTEGRATIONS:
            raise ConfigError(f"integration must be one of {INTEGRATIONS}, got {integration!r}")
        return self if integration == "design" else self.derive(bypass=True, reltol=self.reltol / 2)

    # ------------------------------------------------------------------ derived
    @property
    def mim_area_um2(self) -> float:
        return self.c_m.w * self.c_m.l


def default_design() -> CellDesign:
    """The design that meets issue 3's targets (tt, 27 C); see docs/circuit.md for the measured figures."""
    return CellDesign()


_BUILTIN = {"sky130-rcspike": default_design}


def load_design(path_or_name: str | Path | CellDesign | Mapping[str, Any] | None = None) -> CellDesign:
    """A design by built-in name (``sky130-rcspike``), from a JSON/YAML file, a mapping, or passed through."""
    if path_or_name is None:
        return default_design()
    if isinstance(path_or_name, CellDesign):
        return path_or_name
    if isinstance(path_or_name, Mapping):
        return CellDesign.from_dict(path_or_name)
    s = str(path_or_name)
    if s in _BUILTIN:
        return _BUILTIN[s]()
    p = Path(s)
    if not p.exists():
        raise ConfigError(f"cell design {s!r} is neither a built-in name ({sorted(_BUILTIN)}) nor a file")
    text = read_user_text(p, "cell design file")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            d = yaml.safe_load(text)
        else:
            d = json.loads(text)
    except Exception as e:  # noqa: BLE001 - parse errors of any kind become one clear message
        raise ConfigError(f"cannot parse cell design file {p}: {e}") from e
    return CellDesign.from_dict(d)
