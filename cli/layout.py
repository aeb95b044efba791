"""`imc-layout`: sky130 layout of the synapse, the neuron or a layer, LVS against the schematic of the same design,
and parasitic extraction into the subcircuit `imc-verify run --layer-netlist` substitutes (docs/layout.md)."""

from __future__ import annotations

# The commands import the layout stage (KLayout) inside the function: `-h`, `--version` and usage errors answer
# without it, and without the optional [layout] extra installed.
from pathlib import Path

import click

from imcpnn.cli.common import tool_group
from imcpnn.errors import ConfigError, MissingDependencyError

CELL_HELP = "imc_synapse, imc_neuron or a layer as N_INxN_OUT (e.g. 4x3)."


def _cell_name(cell: str) -> str:
    if cell in ("imc_synapse", "imc_neuron"):
        return cell
    parts = cell.lower().split("x")
    if len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts):
        return f"imc_layer_{int(parts[0])}x{int(parts[1])}"
    raise ConfigError(f"cell {cell!r}: use {CELL_HELP}")


def _stage():
    try:
        from imcpnn.layout import flow
    except ImportError as exc:
        raise MissingDependencyError(f"the layout stage needs KLayout's Python module ({exc}); "
                                     "install it with make setup-layout") from None
    return flow


def _new_file(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to replace it")


@tool_group("imc-layout")
def main() -> None:
    """Layout, LVS and parasitic extraction of the cell (sky130, KLayout and klayout-pex)."""


@main.command()
@click.argument("cell")
@click.option("--design", default="sky130-rcspike", show_default=True, help="Built-in design name or a JSON/YAML file.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="GDS file to write.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def draw(cell: str, design: str, out: Path, force: bool) -> None:
    """Write the layout of CELL as GDS and its LVS schematic next to it (.cdl)."""
    from imcpnn.atomic import atomic_write_bytes, atomic_write_text
    from imcpnn.netlists.design import load_design

    name, des = _cell_name(cell), load_design(design)
    flow = _stage()
    _new_file(out, force)
    layout, _ = flow.draw(des, name)
    atomic_write_bytes(out, flow.gds_bytes(layout))
    atomic_write_text(out.with_suffix(".cdl"), flow.cells.schematic(name, des))
    click.echo(f"wrote {out} and {out.with_suffix('.cdl')}")


@main.command()
@click.argument("cell")
@click.option("--design", default="sky130-rcspike", show_default=True, help="Built-in design name or a JSON/YAML file.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Where to write the extracted subcircuit (SPICE).")
@click.option("--mode", type=click.Choice(["CC", "RC"]), default="CC", show_default=True,
              help="CC: coupling and ground capacitances; RC: also the wire resistances (a larger netlist).")
@click.option("--per-cell", is_flag=True,
              help="A layer from one extraction of the synapse and one of the neuron (fast at any size; leaves out "
                   "the coupling between neighbouring cells).")
@click.option("--split-supply", is_flag=True,
              help="With --per-cell: the synapses on a supply port of their own (vdd_syn), for `imc-verify run "
                   "--energy --layer-netlist`.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def extract(cell: str, design: str, out: Path, mode: str, per_cell: bool, split_supply: bool, force: bool) -> None:
    """Draw CELL, LVS it against the schematic and extract its capacitances (cached by content)."""
    from imcpnn.atomic import atomic_write_text
    from imcpnn.netlists.design import load_design

    name, des = _cell_name(cell), load_design(design)
    flow = _stage()
    _new_file(out, force)
    shape = flow.cells.layer_shape(name)
    if split_supply and not per_cell:
        raise ConfigError("--split-supply needs --per-cell (a whole layer is drawn with one vdd net)")
    if per_cell:
        if shape is None:
            raise ConfigError("--per-cell applies to a layer (N_INxN_OUT)")
        text, record = flow.layer_from_cells(des, *shape, mode, split_supply=split_supply)
        cached = False
    else:
        r = flow.post_layout(des, name, mode)
        text, record, cached = r.subckt.read_text(), r.record, r.cached
    atomic_write_text(out, text)
    sec = record["seconds"]
    how = "from the cache" if cached else (f"drawn {sec['draw']:.1f} s, LVS clean {sec['lvs']:.1f} s, "
                                            f"extracted {sec['extract']:.1f} s")
    if "cpu_seconds" in record:  # a per-cell layer: LVS and the leaves' extraction overlap
        how += f"; {sec['total']:.1f} s wall, {record['cpu_seconds']:.1f} s CPU in all"
    caps = record["cap_fF"]
    top = sorted(caps.items(), key=lambda kv: -kv[1])[:4]
    click.echo(f"{name}: {how}; largest port capacitances " + ", ".join(f"{n} {c:.2f} fF" for n, c in top))
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
