"""Layout -> LVS -> extraction of one cell or layer in one call, cached by content: the same GDS and schematic
with the same tools give the stored extraction instead of a new run."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import klayout.db as kdb

from imcpnn.atomic import atomic_write_json, atomic_write_text
from imcpnn.errors import ConfigError
from imcpnn.netlists import cells as nc
from imcpnn.netlists.design import CellDesign
from imcpnn.paths import user_cache_dir

from . import cells
from .lvs import klayout_exe, run_lvs
from .netlist import GROUND
from .pex import rewrite, run_kpex


def pex_cache_dir() -> Path:
    """Where extractions are kept; IMC_PEX_DIR overrides."""
    return user_cache_dir("pex", "IMC_PEX_DIR")


@dataclass(frozen=True)
class PostLayout:
    name: str
    subckt: Path                   # the extracted subcircuit (netlist ports, ground = 0)
    record: dict                   # timings, LVS result, capacitance per port
    cached: bool


def draw(design: CellDesign, name: str, in_layer: bool = False) -> tuple[kdb.Layout, kdb.Cell]:
    """The layout of ``name``: imc_synapse, imc_neuron (``in_layer``: drawn to a layer row's height) or
    imc_layer_<n_in>x<n_out>."""
    if name in (nc.SYNAPSE, nc.NEURON) and in_layer:
        return cells.leaf_in_layer_layout(design, name)
    if name == nc.SYNAPSE:
        return cells.synapse_layout(design)
    if name == nc.NEURON:
        return cells.neuron_layout(design)
    parts = name.removeprefix("imc_layer_").split("x")
    if not name.startswith("imc_layer_") or len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"layout: unknown cell {name!r} (imc_synapse, imc_neuron or imc_layer_<n_in>x<n_out>)")
    return cells.layer_layout(design, int(parts[0]), int(parts[1]))


def gds_bytes(layout: kdb.Layout) -> bytes:
    """The GDS stream without time stamps, so the same layout gives the same bytes (the cache key)."""
    opts = kdb.SaveLayoutOptions()
    opts.format = "GDS2"
    opts.gds2_write_timestamps = False
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cell.gds"
        layout.write(str(path), opts)
        return path.read_bytes()


def post_layout(design: CellDesign, name: str, mode: str = "CC", workdir: Path | None = None,
                cache: Path | None = None, in_layer: bool = False) -> PostLayout:
    """Draw ``name`` from ``design``, LVS it against the schematic from the same design (a mismatch is an error),
    extract its capacitances (``mode`` CC; RC: and wire resistances) with klayout-pex and rewrite them as the
    netlist's subcircuit."""
    t0 = time.monotonic()
    layout, _ = draw(design, name, in_layer)
    gds = gds_bytes(layout)
    schematic = cells.schematic(name, design)
    tools = {"klayout": ".".join(map(str, klayout_exe()[1])), "klayout-module": importlib.metadata.version("klayout"),
             "klayout-pex": importlib.metadata.version("klayout-pex")}
    content = json.dumps([hashlib.sha256(gds).hexdigest(), schematic, tools, mode])
    key = hashlib.sha256(content.encode()).hexdigest()[:32]
    root = (cache or pex_cache_dir()) / f"{name}-{mode}-{key}"
    subckt, record_path = root / f"{name}.spice", root / "record.json"
    if subckt.is_file() and record_path.is_file():
        return PostLayout(name, subckt, json.loads(record_path.read_text()), True)
    work = workdir or root / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.gds").write_bytes(gds)
    (work / f"{name}.cdl").write_text(schematic)
    t_draw = time.monotonic() - t0
    lvs = run_lvs(work / f"{name}.gds", work / f"{name}.cdl", work)
    if not lvs.match:
        raise ConfigError(f"layout of {name}: LVS against the schematic fails (report {lvs.lvsdb}, log {lvs.log})")
    netlist, t_pex = run_kpex(lvs.lvsdb, name, work, mode)
    ports = [p for p in cells.cell_ports(name, design) if p != GROUND]
    text, caps = rewrite(netlist.read_text(), name, ports)
    record = {"cell": name, "tools": tools, "mode": mode, "lvs": "match",
              "seconds": {"draw": t_draw, "lvs": lvs.seconds, "extract": t_pex},
              "cap_fF": {n: caps.get(n, 0.0) * 1e15 for n in ports}}
    header = (f"* {name}: drawn by imcpnn.layout from design '{design.name}', LVS clean (klayout-pex sky130 deck),\n"
              f"* parasitics from klayout-pex {tools['klayout-pex']} (2.5D engine, {mode} mode, devices blackboxed)\n")
    atomic_write_text(subckt, header + text)
    atomic_write_json(record_path, record)
    return PostLayout(name, subckt, record, False)


#: the leaf subcircuits of a per-cell layer, renamed so that they do not clash with the network's own
PEX_SUFFIX = "_pex"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (KLayout, klayout-pex)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def layer_from_cells(design: CellDesign, n_in: int, n_out: int, mode: str = "CC",
                     cache: Path | None = None, split_supply: bool = False) -> tuple[str, dict]:
    """A post-layout N_in x N_out layer built from two extractions, the synapse and the neuron each drawn as in
    the layer: the netlists' layer subcircuit over the extracted leaves.  Its cost does not grow with the layer;
    the coupling between neighbouring cells is left out (docs/layout.md measures what that misses).  The whole
    array is still drawn and LVS-checked, against the hierarchical schematic (cell by cell).  ``split_supply``: the
    synapses on a ``vdd_syn`` port of their own, as in a network netlist for energy reporting (verify/energy.py)."""
    name = nc.layer_name(n_in, n_out)
    t0, cpu0 = time.monotonic(), cpu_seconds()
    layout, _ = draw(design, name)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        gds, cdl = Path(tmp) / f"{name}.gds", Path(tmp) / f"{name}.cdl"
        gds.write_bytes(gds_bytes(layout))
        cdl.write_text(cells.schematic(name, design, hierarchical=True))
        t_draw = time.monotonic() - t0
        # KLayout checks the layer (a process of its own) while the leaves are extracted: both cores at work
        checking = pool.submit(run_lvs, gds, cdl, Path(tmp), os.cpu_count() or 1)
        leaves = {leaf: post_layout(design, leaf, mode, cache=cache, in_layer=True) for leaf in (nc.SYNAPSE, nc.NEURON)}
        lvs = checking.result()
    if not lvs.match:
        raise ConfigError(f"layout of {name}: LVS against the schematic fails")
    text, caps = _layer_over_leaves(design, n_in, n_out, leaves, split_supply)
    record = {"cell": name, "per_cell": True, "mode": mode, "lvs": "match",
              "seconds": {"draw": t_draw, "lvs": lvs.seconds,
                          "extract": sum(r.record["seconds"]["extract"] for r in leaves.values() if not r.cached),
                          "total": time.monotonic() - t0},
              "cpu_seconds": cpu_seconds() - cpu0, "leaves_cached": all(r.cached for r in leaves.values()),
              "cap_fF": caps, "leaves": {leaf: r.record for leaf, r in leaves.items()}}
    return text, record


def _layer_over_leaves(design: CellDesign, n_in: int, n_out: int, leaves: dict[str, PostLayout],
                       split_supply: bool) -> tuple[str, dict[str, float]]:
    """The layer subcircuit over the extracted leaves (renamed with PEX_SUFFIX), and its capacitance per net (fF)."""
    name = nc.layer_name(n_in, n_out)
    lines = nc.layer_body(n_in, n_out, split_supply=split_supply)
    body = [re.sub(rf"\b({nc.SYNAPSE}|{nc.NEURON})$", rf"\1{PEX_SUFFIX}", line) for line in lines]
    parts = [f".subckt {name} {' '.join(nc.layer_ports(n_in, n_out, split_supply))}", *body, f".ends {name}"]
    for leaf, r in leaves.items():
        text = r.subckt.read_text()
        parts.append(re.sub(rf"^(\.(?:subckt|ends) {leaf})\b", rf"\1{PEX_SUFFIX}", text, flags=re.MULTILINE))
    caps: dict[str, float] = {}
    for line in lines:
        words = line.split()
        formal = [p for p in cells.cell_ports(words[-1], design) if p != GROUND]
        for actual, port in zip(words[1:-1], formal):
            caps[actual] = caps.get(actual, 0.0) + leaves[words[-1]].record["cap_fF"][port]
    return "\n".join(parts) + "\n", caps
