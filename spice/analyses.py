"""Typed ngspice commands and the vectors they return.

Each record writes its own command text (numbers as ``%.6g``); that text goes into the simulation cache key, so it
must not change for the same record. :class:`Current` and :class:`Voltage` name the vectors to keep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


def fmt(x: float) -> str:
    """Deterministic, compact number formatting for commands (``%.6g``)."""
    return f"{float(x):.6g}"


@dataclass(frozen=True)
class Op:
    """Operating point."""

    def command(self) -> str:
        return "op"


@dataclass(frozen=True)
class Dc:
    """DC sweep of the independent source ``source`` from ``start`` to ``stop`` by ``step``."""

    source: str
    start: float
    stop: float
    step: float

    def command(self) -> str:
        return f"dc {self.source} {fmt(self.start)} {fmt(self.stop)} {fmt(self.step)}"

    @property
    def scale(self) -> str:
        """ngspice's name for the swept values: v-sweep for a voltage source, i-sweep for a current source."""
        return "i-sweep" if self.source.lower().startswith("i") else "v-sweep"


@dataclass(frozen=True)
class Tran:
    """Transient to ``stop`` with print step ``step``; ``max_step`` (with ``start``, the first saved time) limits
    the internal step."""

    step: float
    stop: float
    start: float = 0.0
    max_step: float | None = None

    scale = "time"

    def command(self) -> str:
        text = f"tran {fmt(self.step)} {fmt(self.stop)}"
        if self.max_step is not None:
            return f"{text} {fmt(self.start)} {fmt(self.max_step)}"
        return f"{text} {fmt(self.start)}" if self.start else text


@dataclass(frozen=True)
class SetParam:
    """Change a ``.param`` and re-expand the netlist from memory (no file re-read)."""

    name: str
    value: float

    def commands(self) -> tuple[str, str]:
        return f"alterparam {self.name}={fmt(self.value)}", "reset"


Analysis = Union[Op, Dc, Tran]
Command = Union[str, Op, Dc, Tran, SetParam]


def command_lines(c: Command) -> tuple[str, ...]:
    """The ngspice command line(s) of a record; a string is passed through as it is."""
    if isinstance(c, str):
        return (c,)
    if isinstance(c, SetParam):
        return c.commands()
    return (c.command(),)


@dataclass(frozen=True)
class Current:
    """The branch current of an independent voltage source (into its + terminal from the circuit)."""

    source: str

    @property
    def vector(self) -> str:
        return f"{self.source.lower()}#branch"


@dataclass(frozen=True)
class Voltage:
    """A node voltage."""

    node: str

    @property
    def vector(self) -> str:
        return self.node.lower()


Vector = Union[str, Current, Voltage]


def vector_name(v: Vector) -> str:
    """ngspice's name of a vector (lower case); a string is taken as that name."""
    return v.lower() if isinstance(v, str) else v.vector
