"""Layout -> LVS -> extraction of one cell or layer in one call, cached by content: the same GDS and schematic
with the same tools give the stored extraction instead of a new run."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import tempfile
import time
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


def draw(design: CellDesign, name: str) -> tuple[kdb.Layout, kdb.Cell]:
    """The layout of ``name``: imc_synapse, imc_neuron or imc_layer_<n_in>x<n_out>."""
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
                cache: Path | None = None) -> PostLayout:
    """Draw ``name`` from ``design``, LVS it against the schematic from the same design (a mismatch is an error),
    extract its capacitances (``mode`` CC; RC: and wire resistances) with klayout-pex and rewrite them as the
    netlist's subcircuit."""
    t0 = time.monotonic()
    layout, _ = draw(design, name)
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
