"""What a verification was made from: a versioned, typed record embedded in its summary.json (`inputs`), and the one
reader of summaries that other commands (compare) use."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imcpnn.errors import ConfigError

VERIFY_SCHEMA_VERSION = 1
TEST_INPUTS_FILE = "test_inputs.csv"


@dataclass(frozen=True)
class VerifyInputs:
    """source: the run directory or the weight and input files; cell_path / cell_sha256: the cell simulated against;
    run_cell_sha256: the cell the run was trained with (None without a run or cell); other_cell: the two differ and
    the user asked for it (another corner or temperature); temperature (C), corner and design (name and sha256) of
    the netlists; options: the command-line options as given; test_inputs_sha256: of test_inputs.csv, the inputs
    actually simulated."""

    source: str
    cell_path: str
    cell_sha256: str
    temperature: float
    corner: str
    design: str
    design_sha256: str
    run_cell_sha256: str | None = None
    other_cell: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    test_inputs_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


REQUIRED = ("flow", "source", "n_samples", "rmse_ns", "rmse_ns_fired", "rmse_ns_per_layer", "class_agreement",
            "accuracy_model", "accuracy_spice", "scale", "model")


def load_summary(directory: str | Path) -> dict[str, Any]:
    """The summary.json of a verification directory, checked for its schema and the fields readers rely on."""
    p = Path(directory) / "summary.json"
    if not p.is_file():
        raise ConfigError(f"{directory} is not a verification directory (no summary.json); run `imc-verify run` first")
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: not a readable verification summary ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a verification summary must be a JSON object")
    if "rmse_ns" not in data and "test_accuracy" in data:
        raise ConfigError(f"{directory} is a training run without a verification: run `imc-verify run {directory}` "
                          f"first")
    version = data.get("schema_version")
    if version != VERIFY_SCHEMA_VERSION:
        raise ConfigError(f"{p}: not a verification summary of this imc-pnn (schema_version {version!r}, expected "
                          f"{VERIFY_SCHEMA_VERSION}); re-run `imc-verify run`")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{p}: not a verification summary (missing {', '.join(missing)}); re-run `imc-verify run`")
    if not isinstance(data["rmse_ns"], (int, float)) or not isinstance(data["scale"], dict):
        raise ConfigError(f"{p}: malformed verification summary (rmse_ns must be a number, scale an object)")
    return data
