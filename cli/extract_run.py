"""`imc-extract run`: characterise the cell in ngspice and write cell.json (+ a report)."""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import time
from pathlib import Path

import click

from imcpnn.atomic import atomic_create_bytes
from imcpnn.cli.common import finish
from imcpnn.cli.outputs import check_output_dir, check_output_file
from imcpnn.errors import ConfigError


def _save(cell, path: Path, force: bool) -> Path:
    """Write cell.json; without `force` a file that appeared during the extraction is kept and the new cell goes
    beside it (`cell.new.json`), so that no cell a run was trained on is replaced without a word."""
    if force:
        return cell.save(path)
    for k, p in enumerate([path, *(path.with_name(f"{path.stem}.new{i or ''}{path.suffix}") for i in range(99))]):
        try:
            atomic_create_bytes(p, cell.to_json().encode("utf-8"))
        except FileExistsError:
            continue
        if k:
            click.echo(f"{path} was written meanwhile by someone else; kept it, the new cell is in {p}", err=True)
        return p
    raise ConfigError(f"{path} and 99 alternatives next to it exist; pick another --out")


def _temps(text: str) -> list[float]:
    """--temp: one temperature or a comma-separated list (degrees C)."""
    try:
        temps = [float(t) for t in text.split(",")]
    except ValueError:
        raise ConfigError(f"--temp {text!r}: give a temperature or a comma-separated list, e.g. -40,27,85") from None
    for t in temps:
        if not (-55.0 <= t <= 175.0):
            raise ConfigError(f"--temp {t:g} C outside [-55, 175] C")
    return list(dict.fromkeys(temps))


def _names(corners: list[str], temps: list[float]) -> dict[tuple[str, float], str]:
    """The file / report-directory suffix of each condition: the corner, and the temperature once there are several."""
    return {(c, t): c if len(temps) == 1 else f"{c}_{t:g}C" for t in temps for c in corners}


@click.command("run")
@click.option("--corner", default="tt", show_default=True,
              help="Process corner (tt, ff, ss, sf, fs, ...), a comma-separated list, or 'all' for the five base "
                   "corners; every condition runs in one parallel pool.")
@click.option("--temp", default="27", show_default=True,
              help="Temperature in degrees C, or a comma-separated list (e.g. -40,27,85): every corner at each.")
@click.option("--design", default="sky130-rcspike", show_default=True, help="Built-in design name or a JSON/YAML file.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("cell.json"), show_default=True,
              help="Output cell.json; with several conditions cell_<corner>.json (one temperature) or "
                   "cell_<corner>_<temp>C.json next to it. An existing one is not replaced unless --force: runs and "
                   "verifications record the sha256 of the cell they used.")
@click.option("--force", is_flag=True, help="Replace existing cell files (atomically, once the new ones are fitted).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write PNG plots and report.md into this directory (one subdirectory per condition with several).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel ngspice workers [cores].")
@click.option("--no-cache", is_flag=True, help="Do not read or write the simulation result cache.")
@click.option("--fan-in", type=click.IntRange(min=0, max=1000), default=5, show_default=True,
              help="Design fan-in (synapses per column incl. bias) at which c_m and i_unit are taken.")
@click.option("--no-trim", is_flag=True,
              help="Keep the design's v_b_dis and v_b_sense at every condition instead of trimming them to what they "
                   "give at tt, 27 C (docs/extraction.md).")
@click.option("--post-layout", is_flag=True,
              help="Characterise the laid-out cell: the synapse and neuron drawn, LVS-checked and parasitic-extracted "
                   "(imc-layout, per cell, cached) in place of the schematic ones (docs/layout.md).")
@click.option("--pex-mode", type=click.Choice(["CC", "RC"]), default="CC", show_default=True,
              help="With --post-layout: capacitances only (CC) or also wire resistances (RC).")
@click.option("--timeout", type=click.FloatRange(min=1.0), default=600.0, show_default=True,
              help="Seconds one ngspice job may run before it is stopped (large devices or a loaded machine need more).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def run(corner: str, temp: str, design: str, out: Path, force: bool, report: Path | None, jobs: int | None,
        no_cache: bool, fan_in: int, no_trim: bool, post_layout: bool, pex_mode: str, timeout: float,
        quiet: bool) -> None:
    """Characterise synapses, discharger, sensing stage, C_eff(N_in) and leak; fit and write cell.json."""
    from imcpnn.extract.report import comparison_md, write_report
    from imcpnn.extract.run import extract_conditions
    from imcpnn.netlists import load_design
    from imcpnn.pdk import BASE_CORNERS, check_corner, find_pdk

    if pex_mode != "CC" and not post_layout:
        raise ConfigError("--pex-mode applies with --post-layout only")
    temps = _temps(temp)
    corners = list(BASE_CORNERS) if corner == "all" else list(dict.fromkeys(check_corner(c) for c in corner.split(",")))
    check_output_file(out, "--out")
    if report is not None:
        check_output_dir(report, "--report")
    des = load_design(design)
    find_pdk()
    names = _names(corners, temps)
    paths = {c: out if len(names) == 1 else out.with_name(f"{out.stem}_{n}{out.suffix or '.json'}")
             for c, n in names.items()}
    taken = [str(p) for p in paths.values() if p.exists()]
    if taken and not force:
        raise ConfigError(f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; pass --force to replace "
                          f"(runs trained on the old cell name it by its sha256) or pick another --out")
    cache = None
    if not no_cache:
        from imcpnn.spice.cache import ResultCache

        cache = ResultCache()
    t0 = time.perf_counter()
    extracted = None
    if post_layout:
        from imcpnn.extract.postlayout import extracted_cells

        extracted = extracted_cells(des, pex_mode)
        mem = ", ".join(f"{k} {v['mem_cap_fF']:.2f} fF" for k, v in extracted.provenance["cells"].items())
        click.echo(f"post-layout: extracted cells {extracted.provenance['extraction_sha256'][:12]} ({pex_mode}); "
                   f"membrane parasitics: {mem}", err=True)
    cells, stats = extract_conditions(des, list(names), fan_in=fan_in, trim=not no_trim, workers=jobs, cache=cache,
                                      progress=not quiet, post_layout=extracted, timeout=timeout)
    written = []
    for c, (cell, raw) in cells.items():
        written.append(_save(cell, paths[c], force))
        if report is not None:
            write_report(cell, raw, report if len(names) == 1 else report / names[c], stats)
    if len(cells) > 1:
        written.append(_comparison(comparison_md({names[c]: v[0] for c, v in cells.items()}), report or out.parent,
                                   temps, des.name, not no_trim))
    for c, (cell, raw) in cells.items():
        click.echo(f"{names[c]}: lambda_n={cell.lambda_n:.4f} lambda_p={cell.lambda_p:.4f} "
                   f"lambda_dis={cell.lambda_dis:.4f} /V  E+={cell.e_rev_plus:.3f} E-={cell.e_rev_minus:.3f} "
                   f"E_dis={cell.e_dis:.3f}  V_switch={cell.v_switch:.4f} V  C_m={cell.c_m * 1e15:.2f} fF  "
                   f"i_unit={cell.i_unit * 1e9:.2f} nA  alpha_dis_dc={cell.alpha_dis_dc:.4f}")
        if raw.trim is not None:
            click.echo(f"  {raw.trim.line()}")
    click.echo(f"wrote {', '.join(map(str, written))}" + (f"; report in {report}" if report else ""))
    click.echo(f"{stats.jobs} jobs, {stats.cache_hits} from cache, {stats.library_loads} ngspice library loads, "
               f"{time.perf_counter() - t0:.1f} s", err=True)
    if stats.failures:
        from imcpnn.extract.fit import ExtractionError

        raise ExtractionError(f"{len(stats.failures)} of {len(names)} conditions failed (the others were written): "
                              + "; ".join(f"{names[c]}: {e}" for c, e in stats.failures.items()))
    finish(0)


def _comparison(table: str, where: Path, temps: list[float], design: str, trimmed: bool) -> Path:
    """corners.md (one temperature) or conditions.md: the comparison table, also printed."""
    from imcpnn.atomic import atomic_write_text

    path = where / ("corners.md" if len(temps) == 1 else "conditions.md")
    at = f"{temps[0]:g} C" if len(temps) == 1 else ", ".join(f"{t:g}" for t in temps) + " C"
    atomic_write_text(path, f"# Corner comparison ({at}, design {design}, {'trimmed' if trimmed else 'untrimmed'} "
                            f"biases)\n\n" + table)
    click.echo(table)
    return path
