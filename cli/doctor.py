"""`imc-extract doctor`: is everything the toolchain needs present and working?"""

from __future__ import annotations

# The commands import their stage inside the function, not here: `-h`, `--version` and a usage error answer
# at once instead of first paying for torch, PySpice and libngspice.

import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _ngspice_cli() -> Check:
    from imcpnn.spice.engine import cli_version

    v = cli_version()
    return Check("ngspice CLI", v is not None, v or "not on PATH", "apt-get install ngspice")


def _ngspice_shared() -> Check:
    # In a child process: loading libngspice here would tie this process to it.
    code = ("from imcpnn.spice.session import Session\n"
            "with Session('t\\nr1 a 0 1k\\nv1 a 0 1\\n') as s: i = float(-s.run('op').i('v1')[0])\n"
            "from imcpnn.spice.engine import engine, library_name; print(library_name(), engine().ngspice_version, i)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not p.stdout.strip():
        last = (p.stderr.strip().splitlines() or ["failed"])[-1]
        return Check("libngspice + PySpice", False, last[:120],
                     "apt-get install libngspice0 libngspice0-dev (or set NGSPICE_LIBRARY_PATH)")
    lib, ver, i = p.stdout.split()[-3:]
    ok = abs(float(i) - 1e-3) < 1e-9
    return Check("libngspice + PySpice", ok, f"{lib}, ngspice {ver}, PySpice fixes applied, 1 V/1 kOhm -> {float(i):.6g} A",
                 "" if ok else "reinstall ngspice")


def _pdk() -> Check:
    from imcpnn.errors import ImcError
    from imcpnn.pdk import find_pdk, library_hash, verify_install

    try:
        pdk = find_pdk()
        bad = verify_install()
        h = library_hash()[:12]
    except ImcError as exc:
        # `pdk install` alone only says "already installed" when a manifest is there: a damaged install needs --force
        fix = "imc-extract pdk install" + (" --force" if "--force" in str(exc) else "")
        return Check("sky130 models", False, str(exc)[:160], fix)
    if bad:
        return Check("sky130 models", False, f"{len(bad)} file(s) changed, e.g. {bad[0]}", "imc-extract pdk install --force")
    return Check("sky130 models", True, f"{pdk.source}; trimmed tt hash {h}")


def _torch() -> Check:
    try:
        import torch
    except ImportError:
        return Check("torch", False, "not installed", "make setup")
    dev = "CUDA " + torch.version.cuda if torch.cuda.is_available() else "CPU"
    return Check("torch", True, f"{torch.__version__} ({dev})")


def _dask() -> Check:
    try:
        import distributed
    except ImportError:
        return Check("dask.distributed", False, "not installed (only for run_jobs(scheduler=...) in the Python API)", "pip install 'dask[distributed]'",
                     required=False)
    return Check("dask.distributed", True, distributed.__version__, required=False)


def run_checks() -> list[Check]:
    return [_ngspice_cli(), _ngspice_shared(), _pdk(), _torch(), _dask()]


def render(checks: list[Check]) -> str:
    w = max(len(c.name) for c in checks)
    lines = [f"{'check':<{w}}  status  detail"]
    for c in checks:
        status = "ok" if c.ok else ("FAIL" if c.required else "warn")
        line = f"{c.name:<{w}}  {status:<6}  {c.detail}"
        if not c.ok:
            line += f"\n{'':<{w}}          fix: {c.fix}"
        lines.append(line)
    return "\n".join(lines)

