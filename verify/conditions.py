"""Operating conditions of a verification across conditions: corner, temperature and, for a Monte-Carlo instance,
ngspice's random seed (docs/verification.md "Across conditions").

A Monte-Carlo instance simulates the corner's `*_mm` section (per-device mismatch on top of the corner) with its own
seed: the seed is written into every netlist of the instance (netlists/network.py options_lines), so each of its
chunks of samples draws the same devices, and the instance is one physical circuit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from imcpnn.cell import CellParams, load_cell
from imcpnn.errors import ConfigError
from imcpnn.netlists.network import SEED_RANGE, check_seed
from imcpnn.pdk.source import BASE_CORNERS

TEMP_RANGE = (-60.0, 150.0)  # C; beyond it the sky130 models are not characterised


@dataclass(frozen=True)
class Condition:
    corner: str  # a base corner: tt ff ss sf fs
    temp: float  # C
    seed: int | None = None  # a Monte-Carlo instance: the `*_mm` section with this seed

    @property
    def section(self) -> str:
        """The model-library section simulated."""
        return self.corner if self.seed is None else f"{self.corner}_mm"

    @property
    def name(self) -> str:
        """Its directory name, e.g. tt_27C, ss_-40C, tt_mm_27C_seed3."""
        base = f"{self.section}_{self.temp:g}C"
        return base if self.seed is None else f"{base}_seed{self.seed}"

    def to_dict(self) -> dict:
        return {"name": self.name, "corner": self.corner, "section": self.section, "temperature": self.temp,
                "mc_seed": self.seed}


def parse_corners(text: str, option: str = "--corners") -> list[str]:
    names = [c.strip().lower() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in BASE_CORNERS]
    if not names or bad:
        hint = " (mismatch: --mc N on the base corner)" if any(c.endswith("_mm") or c == "mc" for c in bad) else ""
        raise ConfigError(f"{option}: unknown corner(s) {', '.join(bad) or '(none given)'}; choose from "
                          f"{','.join(BASE_CORNERS)}{hint}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{option}: a corner is listed twice ({text})")
    return names


def parse_temp(text: str, option: str = "--temps") -> float:
    try:
        t = float(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a temperature in C") from None
    if not (math.isfinite(t) and TEMP_RANGE[0] <= t <= TEMP_RANGE[1]):
        raise ConfigError(f"{option}: {text} C is outside {TEMP_RANGE[0]:g}..{TEMP_RANGE[1]:g} C")
    return t


def parse_temps(text: str) -> list[float]:
    temps = [parse_temp(t.strip()) for t in text.split(",") if t.strip()]
    if not temps:
        raise ConfigError("--temps: no temperature given (e.g. --temps -40,27,85)")
    if len(set(temps)) != len(temps):
        raise ConfigError(f"--temps: a temperature is listed twice ({text})")
    return temps


def parse_at(text: str) -> tuple[str, float]:
    """'tt/27' -> ('tt', 27.0)."""
    corner, sep, temp = text.partition("/")
    if not sep:
        raise ConfigError(f"--mc-at {text!r}: give CORNER/TEMP, e.g. tt/27")
    return parse_corners(corner, "--mc-at")[0], parse_temp(temp, "--mc-at")


def mc_seeds(n: int, first: int) -> list[int]:
    """The seeds of n instances: first, first + 1, ..."""
    if n < 1:
        raise ConfigError(f"--mc {n}: the number of Monte-Carlo instances must be >= 1")
    if first < SEED_RANGE[0] or first + n - 1 > SEED_RANGE[1]:
        raise ConfigError(f"--mc-seed {first} with --mc {n}: the seeds must lie in {SEED_RANGE[0]}..{SEED_RANGE[1]}")
    return [check_seed(first + k) for k in range(n)]


def grid_conditions(corners: list[str], temps: list[float], mc: int = 0, mc_at: tuple[str, float] | None = None,
                    mc_seed: int = 1) -> list[Condition]:
    """Every corner at every temperature, then `mc` instances at `mc_at` (default: the first corner and temperature)."""
    out = [Condition(c, t) for c in corners for t in temps]
    if mc:
        c, t = mc_at or (corners[0], temps[0])
        out += [Condition(c, t, s) for s in mc_seeds(mc, mc_seed)]
    return out


def condition_cell(cells_dir: Path, cond: Condition, pattern: str) -> tuple[CellParams, Path] | None:
    """The cell extracted at `cond` in `cells_dir`: `pattern` with {corner} and {temp} (`imc-extract run`'s names
    with several temperatures: cell_{corner}_{temp}C.json, e.g. cell_ss_-40C.json), else
    `cell_<corner>.json` (what `imc-extract run --corner all` writes) when its temperature is the condition's.
    None when there is none; a found cell of another corner or temperature is an error, not a silent stand-in."""
    path = cells_dir / pattern.format(corner=cond.corner, temp=f"{cond.temp:g}")
    if not path.is_file():
        path = cells_dir / f"cell_{cond.corner}.json"
        if not path.is_file():
            return None
        cell = load_cell(path)
        return (cell, path) if abs(cell.temperature - cond.temp) < 1e-9 else None
    cell = load_cell(path)
    if cell.provenance.corner != cond.corner or abs(cell.temperature - cond.temp) > 1e-9:
        raise ConfigError(f"{path} was extracted at {cell.provenance.corner} / {cell.temperature:g} C, not at "
                          f"{cond.corner} / {cond.temp:g} C as its name says")
    return cell, path
