"""Build the trimmed model library: only the devices the project uses, for every corner section of the full library.

Loading the full combined library costs seconds and hundreds of MB per ngspice instance; the trimmed one is a small
fraction of both, with the same results (figures: docs/toolchain.md; `benchmarks/engine.py` re-measures the load times,
`tests/pdk/test_pdk.py` checks the results). Each trimmed section keeps the full section's `.param` switches and its
parameter files, in the same order, and swaps the model files for one `devices.spice` holding `models_global.spice`
plus the wanted subcircuits cut out of `models_fet.spice` and `models_capacitors.spice`.
"""

from __future__ import annotations

import os
from pathlib import Path

from imcpnn.errors import MissingDependencyError
from imcpnn.pdk.closure import _INCLUDE, cut_subckts, lib_sections
from imcpnn.pdk.source import CAP_DEVICES, CORNERS, FET_DEVICES

TRIMMED_LIB = "sky130_trimmed.lib.spice"  # an index naming the per-corner files


def corner_file(section: str) -> str:
    """One file per section: ngspice reads the includes of every section in a .lib file, so a single file holding
    all 40 sections would parse devices.spice 40 times instead of once (docs/toolchain.md)."""
    return f"sky130_trimmed_{section}.lib.spice"
DEVICES = "devices.spice"
_MODEL_FILES = ("models_global", "models_fet", "models_bjt", "models_diodes", "models_resistors", "models_capacitors")


def _q(p: Path, base: Path) -> str:
    """p relative to base (the directory of the including file): ngspice resolves relative includes from there, so
    an install stays usable when it is copied or moved."""
    return f'"{Path(os.path.relpath(p, base)).as_posix()}"'


def build_trimmed(combined_dir: Path, out_dir: Path) -> list[str]:
    """Write devices.spice and the trimmed .lib into out_dir; return the section names written."""
    lib_text = (combined_dir / "sky130.lib.spice").read_text()
    cont = combined_dir / "continuous"
    fet_outside, fets = cut_subckts((cont / "models_fet.spice").read_text(), FET_DEVICES)
    cap_outside, caps = cut_subckts((cont / "models_capacitors.spice").read_text(), CAP_DEVICES)
    missing = [d for d in FET_DEVICES + CAP_DEVICES if d.lower() not in {**fets, **caps}]
    if missing:
        raise MissingDependencyError(f"model library lacks device(s) {', '.join(missing)}: the PDK is incomplete")
    parts = [
        "* imc-pnn trimmed sky130 device set (generated; do not edit). Source files:",
        f"*   {_q(cont / 'models_global.spice', out_dir)}",
        f"*   {_q(cont / 'models_fet.spice', out_dir)} (subckts: {', '.join(FET_DEVICES)})",
        f"*   {_q(cont / 'models_capacitors.spice', out_dir)} (subckts: {', '.join(CAP_DEVICES)})",
        (cont / "models_global.spice").read_text(),
        fet_outside,
        *[fets[d.lower()] for d in FET_DEVICES],
        cap_outside,
        *[caps[d.lower()] for d in CAP_DEVICES],
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DEVICES).write_text("\n".join(parts) + "\n")

    sections = lib_sections(lib_text)
    absent = [c for c in CORNERS if c not in sections]
    if absent:
        raise MissingDependencyError(f"model library lacks corner section(s) {', '.join(absent)}")
    head = ["* imc-pnn trimmed sky130 model library (generated; do not edit).",
            f"* Full library: {_q(combined_dir / 'sky130.lib.spice', out_dir)}", ""]
    index = head + ["* Sections live in one file each (fast loading):"]
    for name, body in sections.items():
        lines = list(head)
        lines.append(f".lib {name}")
        devices_done = False
        for raw in body:
            s = raw.strip()
            m = _INCLUDE.match(s)
            if s.lower().startswith(".param"):
                lines.append(s)
            elif m and m.group(1).lower() in ("include", "inc"):
                target = m.group(2)
                stem = Path(target).stem
                if target.startswith("continuous/parameters_") or target.startswith("parameters/"):
                    lines.append(f".include {_q(combined_dir / target, out_dir)}")
                elif stem in _MODEL_FILES and not devices_done:
                    lines.append(f".include {_q(out_dir / DEVICES, out_dir)}")
                    devices_done = True
                # corners/* and rescap/* only model devices we do not use.
        if not devices_done:
            raise MissingDependencyError(f"section {name} of the model library includes no device models")
        lines.append(f".endl {name}")
        lines.append("")
        (out_dir / corner_file(name)).write_text("\n".join(lines))
        index.append(f"*   {name}: {corner_file(name)}")
    (out_dir / TRIMMED_LIB).write_text("\n".join(index) + "\n")
    return list(sections)
