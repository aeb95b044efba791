"""LVS with the sky130 deck that klayout-pex ships, run by the KLayout executable (batch mode)."""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from imcpnn.errors import MissingDependencyError

from .netlist import GROUND

#: KLayout 0.28 (Debian 12) runs the deck once two later additions are supplied: the DSL's ``name`` (a layer's name
#: in the LVS database, which the 2.5D engine looks layers up by) and the sixth argument of
#: DeviceParameterDefinition.new (a scaling exponent of 0.30, not used without device scaling)
_SHIM_028 = """\
def name(layer, n)
  nt = _netter
  l2n = nt.instance_variable_get(:@l2n) || nt._make_data
  known = nt.instance_variable_get(:@layers) || nt.instance_variable_set(:@layers, {})
  region = layer.data
  return if known[region.data_id]
  l2n.register(region, n)
  known[region.data_id] = region
end
class << RBA::DeviceParameterDefinition
  alias_method :_new_without_exponent, :new
  def new(*args)
    _new_without_exponent(*args.first(5))
  end
end
"""


@dataclass(frozen=True)
class LvsResult:
    match: bool
    lvsdb: Path
    extracted: Path
    log: Path
    seconds: float


def kpex_deck() -> Path:
    """The sky130 LVS deck inside the installed klayout-pex package."""
    spec = importlib.util.find_spec("klayout_pex")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("klayout-pex is not installed (make setup-layout)")
    deck = Path(list(spec.submodule_search_locations)[0]) / "pdk/sky130A/libs.tech/kpex/sky130.lvs"
    if not deck.is_file():
        raise MissingDependencyError(f"klayout-pex lacks its sky130 LVS deck ({deck})")
    return deck


@functools.cache  # asked for every LVS and every cache key; each ask starts KLayout (about 1 s)
def klayout_exe() -> tuple[str, tuple[int, ...]]:
    """The KLayout executable and its version."""
    exe = shutil.which("klayout")
    if exe is None:
        raise MissingDependencyError("the klayout executable is not installed (apt-get install klayout)")
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    if m is None:
        raise MissingDependencyError(f"cannot read the KLayout version from {out!r}")
    return exe, tuple(int(g or 0) for g in m.groups())


def run_lvs(gds: Path, schematic: Path, workdir: Path, threads: int = 1) -> LvsResult:
    """LVS of ``gds`` (top cell) against ``schematic`` with klayout-pex's sky130 deck; writes the LVS database
    (which the extraction reads), the extracted netlist and the log into ``workdir``."""
    exe, version = klayout_exe()
    deck = kpex_deck()
    workdir.mkdir(parents=True, exist_ok=True)
    script = deck
    if version < (0, 30):
        script = workdir / "sky130_kpex_klayout028.lvs"
        script.write_text(_SHIM_028 + f"# %include {deck}\n")
    stem = gds.stem
    lvsdb, extracted, log = workdir / f"{stem}.lvsdb", workdir / f"{stem}_extracted.cir", workdir / f"{stem}_lvs.log"
    args = [exe, "-b", "-r", str(script), "-rd", f"input={gds.resolve()}", "-rd", f"report={lvsdb.resolve()}",
            "-rd", f"target_netlist={extracted.resolve()}", "-rd", f"schematic={schematic.resolve()}",
            "-rd", f"thr={threads}", "-rd", "run_mode=deep", "-rd", "spice_net_names=true", "-rd", "top_lvl_pins=true",
            # the deck ties every NMOS body to this global net (not to the taps): name it as our ground
            "-rd", f"lvs_sub={GROUND}"]
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    log.write_text(proc.stdout + proc.stderr)
    if not lvsdb.is_file():
        errors = [l for l in (proc.stdout + proc.stderr).splitlines() if l.startswith("ERROR")]
        raise MissingDependencyError(f"KLayout LVS wrote no database (exit {proc.returncode}): "
                                     f"{errors[0] if errors else 'see ' + str(log)}")
    return LvsResult("Netlists match" in proc.stdout, lvsdb, extracted, log, seconds)
