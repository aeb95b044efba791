"""Testbenches with many instances of one block side by side, for Monte-Carlo mismatch (extract/mismatch.py).

In a ``*_mm`` section every device draws its own threshold (and MIM area) offset when the netlist is expanded, so
``n`` copies of a block in one netlist are ``n`` mismatch samples for the price of one library load and one analysis.
Each copy is wired exactly as the single-instance testbench (netlists/testbenches.py) and shares its sources and
knobs; what differs per copy is named with the copy's index ``k``:

* ``synapse_array_tb``: membrane source ``vmem`` feeds every synapse through its own 0 V source ``vm<k>``;
  ``sign * i(vm<k>)`` is the branch current magnitude of copy k.
* ``discharger_array_tb``: the same with ``vm<k>``; the discharge current of copy k is ``i(vm<k>)``.
* ``sensing_array_tb``: one membrane source, copy k's output is ``sense<k>``.
* ``column_array_tb``: copy k's membrane ``mem<k>`` and spike ``spk<k>``, each with its own injection ``iinj<k>``
  (all the ``.param iinj``).
"""

from __future__ import annotations

from imcpnn.spice.analyses import Dc

from .cells import DISCHARGER, NAND2, SENSE, SYNAPSE
from .design import CellDesign, _fmt
from .testbenches import Testbench, _head, column_lines, column_sources, column_tran


def _check(n: int) -> None:
    if n < 1:
        raise ValueError("need at least one instance")


def synapse_array_tb(design: CellDesign, lib_line: str, branch: str, n: int) -> Testbench:
    """``n`` synapses as in ``synapse_branch_tb`` (spike on, the other branch off), gate of ``branch`` on ``.param
    vg`` (source ``vgn`` / ``vgp``), membrane ``.param vmem`` (source ``vmem``)."""
    if branch not in ("n", "p"):
        raise ValueError("branch must be 'n' or 'p'")
    _check(n)
    params = {"vg": 0.55 if branch == "n" else 1.08, "vmem": design.v0}
    lines = _head(design, lib_line, f"{n} synapses, branch {branch}", params)
    vgn, vgp = ("{vg}", _fmt(design.vdd)) if branch == "n" else ("0", "{vg}")
    lines += ["Vmem mem 0 DC {vmem}", f"Vspk spk 0 DC {_fmt(design.vdd)}", "Vspkb spkb 0 DC 0",
              f"Vgn vgn 0 DC {vgn}", f"Vgp vgp 0 DC {vgp}"]
    for k in range(n):
        lines += [f"Vm{k} mem m{k} DC 0", f"XSYN{k} m{k} spk spkb vgn vgp vdd {SYNAPSE}"]
    lines.append(".end")
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0.3, 1.5, 0.01), "vmem", params,
                     [f"i(vm{k})" for k in range(n)], sign=1.0 if branch == "n" else -1.0,
                     notes="copy k's branch current = sign * i(vm<k>)")


def discharger_array_tb(design: CellDesign, lib_line: str, n: int) -> Testbench:
    """``n`` dischargers as in ``discharger_tb`` (firing phase, bias ``.param vb``); discharge current i(vm<k>)."""
    _check(n)
    params = {"vb": design.v_b_dis, "vmem": design.v0}
    lines = _head(design, lib_line, f"{n} dischargers", params)
    lines += ["Vmem mem 0 DC {vmem}", f"Vph ph 0 DC {_fmt(design.vdd)}", "Vb vbdis 0 DC {vb}"]
    for k in range(n):
        lines += [f"Vm{k} mem m{k} DC 0", f"XDIS{k} m{k} ph vbdis {DISCHARGER}"]
    lines.append(".end")
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0.3, 1.5, 0.01), "vmem", params,
                     [f"i(vm{k})" for k in range(n)], sign=1.0)


def sensing_array_tb(design: CellDesign, lib_line: str, n: int) -> Testbench:
    """``n`` sensing stages as in ``sensing_tb`` (enabled, each loaded by its set NAND) on one membrane source;
    copy k's V_switch is where v(sense<k>) crosses vdd/2."""
    _check(n)
    params = {"vbs": design.v_b_sense, "vmem": design.v0}
    lines = _head(design, lib_line, f"{n} sensing stages", params)
    lines += ["Vmem mem 0 DC {vmem}", f"Vph ph 0 DC {_fmt(design.vdd)}", "Vphb phb 0 DC 0", "Vbs vbsense 0 DC {vbs}"]
    for k in range(n):
        lines += [f"XSEN{k} mem sense{k} phb vbsense vdd {SENSE}", f"XSET{k} sense{k} ph setb{k} vdd {NAND2}"]
    lines.append(".end")
    return Testbench("\n".join(lines) + "\n", Dc("vmem", 0, 1.5, 1e-3), "vmem", params,
                     [f"v(sense{k})" for k in range(n)])


def column_array_tb(design: CellDesign, lib_line: str, n_in: int, n: int, *, i_inj: float = 0.0,
                    t_inj: float = 0.0) -> Testbench:
    """``n`` columns as in ``column_tb`` (one cycle, ``n_in`` synapses each, all inputs off), each with its own
    injection of ``.param iinj`` from ``.param tinj`` after the accumulation start."""
    _check(n)
    params = {"iinj": i_inj, "tinj": t_inj}
    lines = _head(design, lib_line, f"{n} columns, {n_in} synapses each", params)
    lines += column_sources(design, 1)
    for k in range(n):
        lines += column_lines(design, n_in, f"_{k}")
    lines.append(".end")
    return Testbench("\n".join(lines) + "\n", column_tran(design, 1), None, params,
                     [f"v(mem_{k})" for k in range(n)] + [f"v(spk_{k})" for k in range(n)])
