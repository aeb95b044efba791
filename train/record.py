"""What a run directory was made from: a versioned, typed record (`run.json`) written when the run is created and
copied into its summary.json, so that a run can always say which config, overrides and cell produced it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imcpnn.atomic import atomic_write_text
from imcpnn.errors import ConfigError

RUN_SCHEMA_VERSION = 1
RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunInputs:
    """config: the shipped name or path given; overrides: the `--set KEY=VALUE` applied, in order; cell_path and
    cell_sha256: the cell the neuron model was built from (None for a top-down run); extra_cells: {path, sha256} of each
    further cell trained on (variation.cells, copied to cells/cell_<k>.json); tool_version: imc-pnn's."""

    config: str
    overrides: list[str] = field(default_factory=list)
    cell_path: str | None = None
    cell_sha256: str | None = None
    extra_cells: list[dict] = field(default_factory=list)
    tool_version: str = ""
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": RUN_SCHEMA_VERSION, **asdict(self)}

    def save(self, run_dir: Path) -> Path:
        return atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> "RunInputs":
        path = Path(run_dir) / RUN_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path} not found: the run directory was made by an older imc-pnn; retrain it") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable run record ({exc})") from None
        if not isinstance(data, dict) or data.pop("schema_version", None) != RUN_SCHEMA_VERSION:
            raise ConfigError(f"{path}: run-record schema is not {RUN_SCHEMA_VERSION}; retrain the run")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{path}: invalid run record ({exc})") from None
