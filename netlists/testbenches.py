"""Characterisation testbenches used by imc-extract and the tests.

Each function returns a :class:`Testbench`: ``text`` is a complete, ``.control``-free netlist (library line, options,
subcircuits, sources, ``.end``) whose knobs are ``.param`` values (change them with ``alterparam <name>=<v>`` +
``reset`` in a session); ``analysis`` is a suggested analysis command; ``sweep`` names the source to sweep with
``dc``; ``measure`` the vectors to read; ``sign`` converts ``i(vmem)`` into the branch current magnitude
(``current = sign * i(vmem)``; ngspice's i(V) is the current flowing into the source's + terminal from the circuit
... i.e. out of the membrane node into the source).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imcpnn.spice.analyses import Analysis, Dc, Tran

from .cells import DISCHARGER, NAND2, NEURON, SENSE, SYNAPSE, in_device_form, subcircuits
from .design import CellDesign, _fmt
from .network import check_lib_line, options_lines
from .stimulus import pwl_from_levels


@dataclass
class Testbench:
    text: str
    analysis: Analysis
    sweep: str | None
    params: dict[str, float]
    measure: list[str]
    sign: float = 1.0
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _head(design: CellDesign, lib_line: str, title: str, params: dict[str, float]) -> list[str]:
    lines = [f"* {title} (design '{design.name}')", check_lib_line(lib_line), *options_lines(design)]
    if params:
        lines.append(".param " + " ".join(f"{k}={_fmt(v)}" for k, v in params.items()))
    lines.append(subcircuits(design).rstrip("\n"))
    lines.append(f"Vdd vdd 0 DC {_fmt(design.vdd)}")
    return in_device_form("\n".join(lines), design, lines[1]).split("\n")


def synapse_branch_tb(design: CellDesign, lib_line: str, branch: str = "n", vg: float | None = None) -> Testbench:
    """One whole synapse exactly as in the array, spike ON (spk = vdd, spkb = 0), the other branch biased off;
    the memory gate of ``branch`` is ``.param vg``; the membrane is forced by ``Vmem`` (``.param vmem``, default V0).

    ``dc vmem 0.3 1.5 0.01`` gives I(V); ``sign * i(vmem)`` is the branch current magnitude (NMOS sinks: sign -1,
    PMOS sources: sign +1)."""
    if branch not in ("n", "p"):
        raise ValueError("branch must be 'n' or 'p'")
    if vg is None:
        vg = 0.55 if branch == "n" else 1.08
    params = {"vg": vg, "vmem": design.v0}
    lines = _head(design, lib_line, f"synapse branch {branch} testbench", params)
    vgn, vgp = ("{vg}", _fmt(design.vdd)) if branch == "n" else ("0", "{vg}")
    lines += [
        "Vmem mem 0 DC {vmem}",
        f"Vspk spk 0 DC {_fmt(design.vdd)}",
        "Vspkb spkb 0 DC 0",
        f"Vgn vgn 0 DC {vgn}",
        f"Vgp vgp 0 DC {vgp}",
        f"XSYN mem spk spkb vgn vgp vdd {SYNAPSE}",
        ".end",
    ]
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0.3, 1.5, 0.01), "vmem", params, ["i(vmem)"],
                     sign=-1.0 if branch == "n" else 1.0,
                     notes="branch current = sign * i(vmem); positive = the branch's natural direction")


def discharger_tb(design: CellDesign, lib_line: str, vb: float | None = None) -> Testbench:
    """The discharger in the firing-phase configuration (ph = vdd), bias ``.param vb``, membrane forced by ``Vmem``.
    Discharge current = -i(vmem)."""
    params = {"vb": design.v_b_dis if vb is None else vb, "vmem": design.v0}
    lines = _head(design, lib_line, "discharger testbench", params)
    lines += ["Vmem mem 0 DC {vmem}", f"Vph ph 0 DC {_fmt(design.vdd)}", "Vb vbdis 0 DC {vb}",
              f"XDIS mem ph vbdis {DISCHARGER}", ".end"]
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0.3, 1.5, 0.01), "vmem", params, ["i(vmem)"], sign=-1.0,
                     notes="discharge current = -i(vmem)")


def sensing_tb(design: CellDesign, lib_line: str, vb: float | None = None) -> Testbench:
    """The sensing stage enabled (firing phase: ph = vdd, phb = 0), loaded by the set NAND exactly as in the neuron;
    ``dc vmem 0 1.5 1m`` gives the transfer curve v(sense) and the supply current -i(vdd).  V_switch is where
    v(sense) crosses vdd/2 (the NAND's input threshold is about there)."""
    params = {"vbs": design.v_b_sense if vb is None else vb, "vmem": design.v0}
    lines = _head(design, lib_line, "sensing-stage testbench", params)
    lines += ["Vmem mem 0 DC {vmem}", f"Vph ph 0 DC {_fmt(design.vdd)}", "Vphb phb 0 DC 0", "Vbs vbsense 0 DC {vbs}",
              f"XSEN mem sense phb vbsense vdd {SENSE}", f"XSET sense ph setb vdd {NAND2}", ".end"]
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0, 1.5, 1e-3), "vmem", params, ["v(sense)", "v(setb)", "i(vdd)"],
                     sign=-1.0, notes="V_switch: v(sense) = vdd/2; supply current = -i(vdd)")


def sense_drive_tb(design: CellDesign, lib_line: str, vb: float | None = None) -> Testbench:
    """The sensing stage enabled, its input overdriven (mem = 0: the input NMOS off, the input PMOS fully on) and its
    output held at vdd/2 by ``Vout``: ``i(vout)`` is the current that charges the set NAND's input through the bias
    PMOS (``.param vbs``), what an overdriven comparator's latency goes with."""
    params = {"vbs": design.v_b_sense if vb is None else vb}
    lines = _head(design, lib_line, "sensing-stage drive testbench", params)
    lines += ["Vmem mem 0 DC 0", "Vphb phb 0 DC 0", "Vbs vbsense 0 DC {vbs}", f"Vout sense 0 DC {_fmt(design.vdd / 2)}",
              f"XSEN mem sense phb vbsense vdd {SENSE}", ".end"]
    return Testbench("\n".join(lines) + "\n", Dc("vbs", 0.4, 1.75, 1e-3), "vbs", params, ["i(vout)"],
                     notes="drive current = i(vout) (into the held output)")


def column_tb(design: CellDesign, lib_line: str, n_in: int, *, n_cycles: int = 1, i_inj: float = 0.0,
              t_inj: float = 0.0, wire_cap: float = 0.0, bundled: bool = False) -> Testbench:
    """One neuron with ``n_in`` synapses on its membrane, all inputs off (spk = 0, spkb = vdd, vgn = 0, vgp = vdd),
    run through ``n_cycles`` cycles of reset / accumulation / firing (phase k of cycle c spans [(3c+k) T, ...)).

    An ideal current source ``Iinj`` sinks ``.param iinj`` (A; positive = like the NMOS branch, pulls V down) from
    the membrane from ``.param tinj`` (seconds after each accumulation start; edge t_edge) to the end of that
    accumulation phase, in every cycle.  Nodes: ``mem``, ``spk``, ``spkb``, ``sense`` is ``xn.sense``.
    The analysis ``tran`` spans all cycles. ``bundled``: the synapses as one instance with multiplier ``m=n_in``
    (``column_lines``)."""
    if n_in < 0 or n_cycles < 1:
        raise ValueError("n_in >= 0 and n_cycles >= 1 needed")
    params = {"iinj": i_inj, "tinj": t_inj}
    lines = _head(design, lib_line, f"column testbench, {n_in} synapses", params)
    lines += column_sources(design, n_cycles)
    lines += column_lines(design, n_in, "", wire_cap, bundled)
    lines.append(".end")
    return Testbench("\n".join(lines) + "\n", column_tran(design, n_cycles), None, params,
                     ["v(mem)", "v(spk)", "v(spkb)"],
                     notes="cycle c: reset [3cT, (3c+1)T), accumulation [(3c+1)T, (3c+2)T), firing [(3c+2)T, (3c+3)T)")


def column_sources(design: CellDesign, n_cycles: int) -> list[str]:
    """The sources a column shares with its neighbours: rails, biases, phase clocks, the off inputs."""
    T, te = design.t_circ, design.t_edge
    roles = ["reset", "accum", "fire"] * n_cycles
    ph = [1 if r == "fire" else 0 for r in roles]
    rstb = [0 if r == "reset" else 1 for r in roles]
    return [
        f"Vv0 v0 0 DC {_fmt(design.v0)}",
        f"Vbdis vbdis 0 DC {_fmt(design.v_b_dis)}",
        f"Vbsense vbsense 0 DC {_fmt(design.v_b_sense)}",
        "Vph ph 0 " + pwl_from_levels(ph, T, te, design.vdd),
        "Vphb phb 0 " + pwl_from_levels([1 - x for x in ph], T, te, design.vdd),
        "Vrstb rstb 0 " + pwl_from_levels(rstb, T, te, design.vdd),
        "Vspk spk_in 0 DC 0",
        f"Vspkb spkb_in 0 DC {_fmt(design.vdd)}",
        "Vgn vgn_off 0 DC 0",
        f"Vgp vgp_off 0 DC {_fmt(design.vdd)}",
    ]


def column_lines(design: CellDesign, n_in: int, tag: str = "", wire_cap: float = 0.0,
                 bundled: bool = False) -> list[str]:
    """One column: ``n_in`` off synapses on membrane ``mem<tag>``, its neuron (spike ``spk<tag>``, ``spkb<tag>``)
    and the injection ``Iinj<tag>`` of ``.param iinj`` from ``.param tinj`` after each accumulation start.

    ``bundled``: the synapses as one instance with ngspice's multiplier ``m=n_in``. The off synapses are identical
    and share every node but their own internal ones, so the circuit is the same without mismatch (a device draws
    one mismatch value for all its copies, so not for mismatch runs). Why: a thousand separate copies of the
    matched design's synapse (docs/examples/design-matched.yaml) left ngspice's transient at picosecond steps for
    many minutes, and even the default design's took ~1 min against < 1 s bundled (docs/extraction.md, "Cost")."""
    T, te = design.t_circ, design.t_edge
    mem = f"mem{tag}"
    if bundled and n_in > 0:
        lines = [f"XS0{tag} {mem} spk_in spkb_in vgn_off vgp_off vdd {SYNAPSE} m={n_in}"]
    else:
        lines = [f"XS{j}{tag} {mem} spk_in spkb_in vgn_off vgp_off vdd {SYNAPSE}" for j in range(n_in)]
    lines.append(f"XN{tag} {mem} spk{tag} spkb{tag} ph phb rstb v0 vbdis vbsense vdd {NEURON}")
    if wire_cap > 0:
        lines.append(f"Cw{tag} {mem} 0 {_fmt(wire_cap)}")
    # current step from T + tinj to 2T (end of accumulation), repeated every cycle
    lines.append(f"Iinj{tag} {mem} 0 PULSE(0 {{iinj}} {{{_fmt(T)}+tinj-{_fmt(te / 2)}}} {_fmt(te)} {_fmt(te)} "
                 f"{{{_fmt(T)}-tinj-{_fmt(te)}}} {_fmt(3 * T)})")
    return lines


def column_tran(design: CellDesign, n_cycles: int) -> Tran:
    """The column's transient: every cycle, at the half-edge print step and the design's step limit."""
    return Tran(design.t_edge / 2, 3 * n_cycles * design.t_circ, 0.0, design.max_step)
