"""`imc-extract mc`: Monte-Carlo mismatch of an extracted cell; writes the cell with its `variation` section."""

from __future__ import annotations

# The command imports its stage inside the function, not here: `-h` and a usage error answer at once instead of
# first paying for PySpice and libngspice.

from pathlib import Path

import click

from imcpnn.cli.common import finish
from imcpnn.cli.extract_run import _save
from imcpnn.cli.outputs import check_output_dir, check_output_file
from imcpnn.errors import ConfigError


@click.command("mc")
@click.argument("cell_json", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--n", "n", type=click.IntRange(min=2, max=10000), default=20, show_default=True,
              help="Monte-Carlo instances per block.")
@click.option("--seed", type=click.IntRange(min=0, max=2 ** 31 - 1), default=0, show_default=True,
              help="Random seed: the same seed gives the same instances (and the cached results).")
@click.option("--corner", default=None, help="Mismatch section [the cell's corner + _mm, e.g. tt_mm].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output cell.json with the variation section [CELL_JSON's name + _mc]. An existing file is not "
                   "replaced unless --force.")
@click.option("--force", is_flag=True, help="Replace an existing --out (atomically, once the new cell is fitted).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write report.md, sigma_vs_current.png and histograms.png into this directory.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel ngspice workers [cores].")
@click.option("--no-cache", is_flag=True, help="Do not read or write the simulation result cache.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def mc(cell_json: Path, n: int, seed: int, corner: str | None, out: Path | None, force: bool, report: Path | None,
       jobs: int | None, no_cache: bool, quiet: bool) -> None:
    """Simulate N mismatch instances of CELL_JSON's blocks and measure the spread of its parameters."""
    from imcpnn.cell import load_cell
    from imcpnn.extract.mismatch import run_mismatch
    from imcpnn.extract.mismatch_plan import mismatch_corner
    from imcpnn.extract.mismatch_report import spread_table, write_mismatch_report

    cell = load_cell(cell_json)
    corner = mismatch_corner(cell, corner)
    out = out or cell_json.with_name(f"{cell_json.stem}_mc{cell_json.suffix or '.json'}")
    check_output_file(out, "--out")
    if report is not None:
        check_output_dir(report, "--report")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it or pick another --out")
    cache = None
    if not no_cache:
        from imcpnn.spice.cache import ResultCache

        cache = ResultCache()
    new, _, stats = run_mismatch(cell, n, seed, corner, workers=jobs, cache=cache, progress=not quiet)
    written = _save(new, out, force)
    if report is not None:
        write_mismatch_report(new, report, stats)
    click.echo("\n".join(spread_table(new.variation)))
    click.echo(f"wrote {written}" + (f"; report in {report}" if report else ""))
    click.echo(f"{stats.jobs} jobs, {stats.cache_hits} from cache, {stats.wall_seconds:.1f} s", err=True)
    finish(0)
