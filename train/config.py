"""Training configuration: YAML, validated with pydantic (unknown keys, wrong types and impossible values are one-line
ConfigErrors), shipped configs by name, `--set key=value` overrides, and the neuron-model record a config describes
(`neuron_model`: from its cell for `from: cell.json`, else from its numbers)."""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imcpnn.cell import CellParams, load_cell
from imcpnn.errors import ConfigError
from imcpnn.neuron import NeuronModel
from imcpnn.userfiles import read_user_text
from imcpnn.variation import CurrentMismatch

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatasetConfig(_Strict):
    name: Literal["iris", "digits", "fashion_mnist", "cifar10", "file"]
    split_seed: int = Field(0, description="seed of the fixed stratified split (iris, digits, file)")
    encoding: Literal["x", "one_minus_x"] | None = Field(None, description="default: x for iris, 1-x otherwise; "
                                                          "required for name: file")
    path: str | None = Field(None, description="name: file: a CSV (features, then the class index in the last column) "
                             "or an .npz (x, y; optional x_test, y_test)")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="name: file without x_test: share held out for test")
    scale: Literal["minmax", "none"] = Field("minmax", description="name: file: min-max scale each feature on the "
                                             "train split (none: features must already lie in [0, 1])")
    data_dir: str = "data"
    download: bool = False
    augment: bool = False
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)


    @model_validator(mode="after")
    def _file_fields(self) -> "DatasetConfig":
        if self.name == "file" and (self.path is None or self.encoding is None):
            raise ValueError("dataset name: file needs path (CSV or .npz) and encoding (x or one_minus_x)")
        if self.name != "file" and self.path is not None:
            raise ValueError(f"dataset path is only read with name: file (this one is {self.name})")
        return self


class ModelConfig(_Strict):
    kind: Literal["rcspike", "ttfs"] = Field("rcspike", description="neuron: RC-Spike (two phases) or TTFS "
                                             "(docs/paper.md §1.4; arch mlp, symmetric or given E+/E-)")
    arch: Literal["mlp", "cnn"] = "mlp"
    sizes: list[int] | None = Field(None, description="MLP layer sizes including the input, e.g. [5, 5, 5]")
    layers: list[str] | None = Field(None, description="CNN spec: 'conv:64', 'pool:2', 'flatten', 'fc:512', 'fc:10'")
    padding: int = Field(1, ge=0)
    n_classes: int | None = Field(None, ge=2, description="classes are output neurons 0..n_classes-1 (default: all)")
    init_shift: float | Literal["auto"] = Field(
        0.0, description="added to every initial weight: a positive shift starts neurons firing (v > 0), so no class "
        "neuron starts silent with zero gradient; 'auto': per layer, the shift that puts the median spike time of the "
        "first training samples at mid-window (train/net.py auto_init_shift), for any cell")
    init_scale: float = Field(1.0, gt=0, description="models' init: w ~ U(-a, a), a = init_scale * sqrt(3 / fan_in)")
    t_max: float = Field(4.0, gt=0, description="TTFS: time window (a neuron silent by t_max fires at t_max; the "
                         "DSTD grid spans [0, t_max])")
    w_star: float = Field(2.0, gt=0, description="TTFS init (App. C): w ~ U(0, w_max/N), w_max proportional to w*")

    @model_validator(mode="after")
    def _arch(self) -> "ModelConfig":
        if self.arch == "mlp":
            if not self.sizes or len(self.sizes) < 2 or min(self.sizes) < 1:
                raise ValueError("model.sizes must list >= 2 positive layer sizes for arch mlp")
        else:
            if not self.layers:
                raise ValueError("model.layers is required for arch cnn")
            for spec in self.layers:
                kind, _, arg = spec.partition(":")
                if kind not in ("conv", "pool", "flatten", "fc") or (kind != "flatten" and not arg.isdigit()):
                    raise ValueError(f"bad CNN layer spec {spec!r} (use conv:N, pool:K, flatten, fc:N)")
        return self

    @property
    def n_out(self) -> int:
        if self.arch == "mlp":
            return self.sizes[-1]
        return int(self.layers[-1].partition(":")[2])


class NeuronConfig(_Strict):
    """Reversal potentials: give exactly one of `from` (a cell.json), `e_rev` (symmetric |E|), or `e_plus`+`e_minus`."""

    from_: str | None = Field(None, alias="from", description="'cell.json' = the --cell file, or a path to a cell.json")
    e_rev: float | None = Field(None, gt=0, description="symmetric |E|: E+ = e_rev, E- = -e_rev (inf = ideal)")
    e_plus: float | None = Field(None, gt=0)
    e_minus: float | None = Field(None, lt=0)
    e_dis: float | None = Field(None, gt=1, description="firing-phase E_dis (inf = ideal ramp); from cell.json if 'from'")
    use_e_dis: bool = Field(True, description="with 'from': apply the cell's E_dis in the firing phase")
    alpha_dis: float | None = Field(None, gt=0, description="firing ramp rate (None: the paper's, from E_dis)")
    fire_threshold: float = Field(1.0, gt=0, description="level the firing ramp must reach (1 + comparator offset)")
    t_min: float = Field(0.0, ge=0, lt=1, description="comparator latency: earliest spike in the firing phase")
    lambda_table: bool = Field(False, description="with 'from': per-synapse beta from the cell's lambda-vs-current "
                                                  "tables instead of one E per sign (bottom-up refinement)")
    spike_kicks: bool = Field(False, description="with 'from': add the cell's spike-line kicks (extract/kicks.py) to "
                                                 "v at the firing start, when the cell has them (MLP only)")
    fan_in_law: bool = Field(True, description="with 'from': scale each layer's charges (weights, firing ramp, "
                                                "kicks, comparator overshoot, reset level) by C_eff(design fan-in) / "
                                                "C_eff(its fan-in), between the cell's measured C_eff points")
    use_cell_firing: bool = Field(True, description="with 'from': take alpha_dis, fire_threshold, t_min measured "
                                                    "in the firing transient from the cell params (when present)")
    weight_range: Literal["cell", "none"] | list[float] = Field(
        "none", description="'cell' = [-w_max_minus, w_max_plus] from the cell params, or [w_min, w_max]")
    leak: float = Field(0.0, ge=0)
    solver: Literal["dstd", "exact"] = "dstd"
    steps: int = Field(10, ge=1, description="DSTD steps M during training")
    steps_test: int | None = Field(None, ge=1, description="DSTD steps at evaluation (default: steps)")
    offset: Literal["random", "fixed"] = "random"
    sigma: float = Field(0.0, ge=0, description="spike-time noise std (train; eval uses sigma_test)")
    sigma_test: float | None = Field(None, ge=0, description="spike noise at evaluation (default 0: none)")
    eval_offset: Literal["fixed", "random"] = Field("fixed", description="DSTD offset at evaluation")

    @field_validator("weight_range")
    @classmethod
    def _wr(cls, v):
        if isinstance(v, list) and (len(v) != 2 or not v[0] < 0 < v[1]):
            raise ValueError("weight_range must be 'cell', 'none' or [w_min < 0, w_max > 0]")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "NeuronConfig":
        given = [self.from_ is not None, self.e_rev is not None, self.e_plus is not None or self.e_minus is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of neuron.from, neuron.e_rev, or neuron.e_plus + neuron.e_minus")
        if given[2] and (self.e_plus is None or self.e_minus is None):
            raise ValueError("neuron.e_plus and neuron.e_minus must be given together")
        if self.weight_range == "cell" and self.from_ is None:
            raise ValueError("neuron.weight_range 'cell' needs neuron.from (a cell.json)")
        return self


class OptimConfig(_Strict):
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(10, ge=1)
    betas: tuple[float, float] = (0.9, 0.999)
    lr_schedule: Literal["none", "cosine"] = "none"


class LossConfig(_Strict):
    tau_soft: float = Field(0.07, gt=0)
    gamma_t: float = Field(0.0, ge=0, description="temporal penalty weight (Temp)")
    t_ref: float = Field(0.9, ge=0, description="target output time of Temp (RC-Spike: <= 1; TTFS: the total "
                         "latency, < model.t_max, also used by the TTFS init)")
    gamma_w: float = Field(0.0, ge=0, description="weight 2-norm penalty (P)")
    gamma_v: float = Field(0.0, ge=0, description="early-spike penalty on all layers' spikes (V)")
    gamma_q: float = Field(0.0, ge=0, description="TTFS: weight of Q, the summed weights of the inputs that arrive "
                           "before each neuron fires; the loss adds -gamma_q Q (encourages firing)")


class CurrentSigmaConfig(_Strict):
    """sigma_rel of a branch current against the current (A), as imcpnn.variation.CurrentMismatch holds it."""

    i: list[float] = Field(description="A, ascending")
    sigma_rel: list[float] = Field(description="std / mean of the branch current at each current")

    def mismatch(self) -> CurrentMismatch:
        # n: the record's Monte-Carlo count; a config's table is given, not sampled, so the minimum stands in
        return CurrentMismatch(i=self.i, sigma_rel=self.sigma_rel, n=2)

    @model_validator(mode="after")
    def _table(self) -> "CurrentSigmaConfig":
        try:
            self.mismatch()
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self


class VariationConfig(_Strict):
    """Mismatch injected during training (imcpnn/train/variation.py, docs/training.md "Variation-aware training"):
    each sigma is the config's when given, else the cell's variation section's with `from_cell`, else off."""

    from_cell: bool = Field(False, description="take the sigmas the config does not give from the cell's "
                            "variation section (an error when the cell has none)")
    current: dict[Literal["n", "p"], CurrentSigmaConfig] | None = Field(
        None, description="per-branch sigma_rel against the synapse current |w| i_unit (needs a cell)")
    weight_sigma: float | None = Field(None, ge=0, description="one sigma_rel for every synapse (instead of current)")
    threshold_sigma: float | None = Field(None, ge=0, description="std of a neuron's firing threshold (v_th units)")
    c_m_sigma: float | None = Field(None, ge=0, description="relative std of a neuron's C_eff: its synapse charges "
                                    "and firing ramp scale by C_nominal / C_instance")
    ramp_sigma: float | None = Field(None, ge=0, description="relative std of a neuron's firing-ramp rate (its "
                                     "discharger); from the cell: the alpha_dis spread")
    sigma_scale: float = Field(1.0, ge=0, description="multiplies every sigma")
    draw_seed: int | None = Field(None, description="seed of the draws (default: the config's seed)")
    cells: list[str] = Field(default_factory=list, description="more cell.json files (corners, temperatures) to "
                             "train on besides neuron.from, one per batch")
    cell_order: Literal["cycle", "random"] = Field("cycle", description="which cell a batch uses")

    @model_validator(mode="after")
    def _one_current(self) -> "VariationConfig":
        if self.current is not None and self.weight_sigma is not None:
            raise ValueError("give variation.current (per branch, against the current) or variation.weight_sigma, "
                             "not both")
        if self.current is not None and set(self.current) != {"n", "p"}:
            raise ValueError("variation.current needs both branches, n and p")
        return self


class TrainConfig(_Strict):
    name: str
    dataset: DatasetConfig
    model: ModelConfig
    neuron: NeuronConfig
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's)")
    eval_every: int = Field(1, ge=1)
    keep_checkpoints: int = Field(5, ge=0, description="epoch checkpoints kept besides checkpoint.pt (0 = all)")
    variation: VariationConfig | None = Field(None, description="mismatch injected during training (RC-Spike MLPs)")

    @model_validator(mode="after")
    def _classes(self) -> "TrainConfig":
        n_out = self.model.n_out
        if self.model.n_classes is not None and self.model.n_classes > n_out:
            raise ValueError(f"model.n_classes {self.model.n_classes} exceeds the {n_out} output neurons")
        return self

    @model_validator(mode="after")
    def _kind(self) -> "TrainConfig":
        m, n, lc = self.model, self.neuron, self.loss
        if self.variation is not None and (m.kind != "rcspike" or m.arch != "mlp"):
            raise ValueError("variation is modelled for RC-Spike MLPs only (model.kind rcspike, arch mlp)")
        if self.variation is not None and n.from_ is None and (self.variation.from_cell or self.variation.current
                                                               or self.variation.cells):
            raise ValueError("variation.from_cell, variation.current and variation.cells need a cell (neuron.from); "
                             "a top-down config takes variation.weight_sigma")
        if m.kind == "rcspike":
            if lc.t_ref > 1:
                raise ValueError(f"loss.t_ref {lc.t_ref} lies after the firing phase (RC-Spike spikes are in [0, 1])")
            if lc.gamma_q:
                raise ValueError("loss.gamma_q (Q) is a TTFS term; set model.kind: ttfs or gamma_q: 0")
            return self
        if m.arch != "mlp":
            raise ValueError("model.kind ttfs is built for arch mlp only")
        if n.from_ is not None or n.leak or n.e_dis is not None:
            raise ValueError("model.kind ttfs takes neuron.e_rev or e_plus/e_minus only (no cell, leak or e_dis: "
                             "the TTFS circuit is not characterised and has no firing phase)")
        e_plus = n.e_rev if n.e_rev is not None else n.e_plus
        if not e_plus > 1:
            raise ValueError(f"model.kind ttfs needs E+ > 1, the threshold (got {e_plus}): the neuron never fires")
        if not lc.t_ref < m.t_max:
            raise ValueError(f"loss.t_ref {lc.t_ref} must lie before model.t_max {m.t_max}")
        if lc.gamma_v:
            raise ValueError("loss.gamma_v (V, early spikes against t = 1) is an RC-Spike term; use gamma_v: 0")
        return self

    @property
    def n_classes(self) -> int:
        return self.model.n_classes or self.model.n_out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)


# ------------------------------------------------------------------------------------------------------- loading
def shipped_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a shipped config (e.g. 'iris-bottomup')."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.is_dir():
        raise ConfigError(f"config {p} is a directory, not a YAML file")
    try:
        shipped = resources.files("imcpnn.train") / "configs" / f"{name_or_path}.yaml"
        if shipped.is_file():
            return Path(str(shipped))
    except (ModuleNotFoundError, TypeError):
        pass
    if (CONFIG_DIR / f"{name_or_path}.yaml").is_file():
        return CONFIG_DIR / f"{name_or_path}.yaml"
    raise ConfigError(f"config {str(name_or_path)!r} is neither a file nor a shipped config "
                      f"(shipped: {', '.join(shipped_configs())})")


def _fmt_error(exc: ValidationError, where: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-after"))
    loc = loc.replace("from_", "from")
    kind = first["type"]
    if kind == "extra_forbidden":
        msg = f"unknown key '{loc}'"
    elif kind == "missing":
        msg = f"missing key '{loc}'"
    else:
        val = first.get("input")
        sval = repr(val) if not isinstance(val, dict) else "{...}"
        msg = f"bad value for '{loc or '<root>'}': {first['msg']} (got {sval[:60]})"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{more}"


def validate_config(data: Any, where: str = "config") -> TrainConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: top level must be a mapping of keys, got {type(data).__name__}")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_fmt_error(exc, where)) from None


def validate_with_overrides(data: dict, sets: list[str] | dict | None, where: str) -> TrainConfig:
    """Apply `--set` overrides and validate; an error the overrides caused names them, not the config file."""
    if not sets:
        return validate_config(data, where)
    try:
        return validate_config(apply_overrides(data, sets), where)
    except ConfigError as exc:
        try:
            validate_config(data, where)
        except ConfigError:
            raise exc from None
        shown = ", ".join(sets) if not isinstance(sets, dict) else ", ".join(f"{k}={v}" for k, v in sets.items())
        msg = str(exc)[len(where) + 2:] if str(exc).startswith(f"{where}: ") else str(exc)
        raise ConfigError(f"--set {shown}: {msg}") from None


def load_config_dict(name_or_path: str | Path) -> tuple[dict, Path]:
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(read_user_text(path, "config"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{line}; fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return data, path


# ------------------------------------------------------------------------------------------------------- overrides
def _section(ann: Any) -> type[BaseModel] | None:
    """The config section a field holds (also an optional one, `Section | None`), else None."""
    for cand in (ann, *getattr(ann, "__args__", ())):
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def _leaf_paths(model_cls: type[BaseModel], prefix: tuple = ()) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for fname, field in model_cls.model_fields.items():
        key = field.alias or fname
        ann = _section(field.annotation)
        if ann is not None:
            for k, v in _leaf_paths(ann, prefix + (key,)).items():
                out.setdefault(k, []).extend(v)
        else:
            out.setdefault(key, []).append(prefix + (key,))
    return out


SHORT_KEYS = _leaf_paths(TrainConfig)


def resolve_key(key: str) -> tuple:
    """'optim.lr' or a unique leaf name ('lr', 'e_rev') -> path tuple."""
    if "." in key:
        parts = tuple(key.split("."))
        node: Any = TrainConfig
        for p in parts:
            fields = {(f.alias or n): f for n, f in node.model_fields.items()} if node is not None else {}
            if p not in fields:
                raise ConfigError(f"--set: unknown key '{key}'")
            node = _section(fields[p].annotation)
        return parts
    paths = SHORT_KEYS.get(key)
    if not paths:
        raise ConfigError(f"--set: unknown key '{key}' (use a dotted key such as optim.lr)")
    if len(paths) > 1:
        raise ConfigError(f"--set: key '{key}' is ambiguous: {', '.join('.'.join(p) for p in paths)}")
    return paths[0]


def parse_value(text: str) -> Any:
    val = yaml.safe_load(text) if text.strip() else ""
    if isinstance(val, str) and val.lower() in ("inf", "+inf", "infinity"):
        return math.inf
    return val


_REVERSAL_KEYS = {"from", "e_rev", "e_plus", "e_minus"}


def apply_overrides(data: dict, sets: list[str] | dict) -> dict:
    """Apply `key=value` overrides to a raw config dict (before validation)."""
    data = copy.deepcopy(data)
    items = list(sets.items()) if isinstance(sets, dict) else []
    if not isinstance(sets, dict):
        for s in sets:
            if "=" not in s:
                raise ConfigError(f"--set expects key=value, got {s!r}")
            k, v = s.split("=", 1)
            items.append((k.strip(), parse_value(v)))
    for key, value in items:
        path = resolve_key(key)
        node = data
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{p}' is not a section")
        if path[0] == "neuron" and path[-1] in _REVERSAL_KEYS:
            # switching the source of E replaces the other sources (e.g. a sweep over e_rev on a cell-based config)
            for other in _REVERSAL_KEYS - {path[-1]}:
                if not (path[-1] in ("e_plus", "e_minus") and other in ("e_plus", "e_minus")):
                    node.pop(other, None)
            if path[-1] != "from" and node.get("weight_range") == "cell":
                node["weight_range"] = "none"
        node[path[-1]] = value
    return data


# ------------------------------------------------------------------------------------------------------- cell params
def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_config_cell(cfg: TrainConfig, cell_path: str | Path | None,
                     config_path: Path | None = None) -> tuple[CellParams | None, Path | None]:
    """The cell a bottom-up config takes its model from (`neuron.from`, or the --cell file); (None, None) for a
    top-down config."""
    n = cfg.neuron
    if n.from_ is None:
        return None, None
    path = cell_path
    if path is None:
        cand = Path(n.from_)
        if not cand.is_absolute() and config_path is not None and (config_path.parent / cand).is_file():
            cand = config_path.parent / cand
        if n.from_ == "cell.json" and not cand.is_file():
            raise ConfigError(f"config '{cfg.name}' takes E from cell.json: pass --cell PATH "
                              f"(e.g. tests/fixtures/cell_paper.json, or the output of imc-extract)")
        path = cand
    return load_cell(path), Path(path)


def neuron_model(cfg: TrainConfig, cell: CellParams | None = None, source: str = "") -> NeuronModel:
    """The neuron-model record a config describes: bottom-up from its cell (`neuron.from`; the config's switches
    leave out refinements, its explicit e_dis / firing values take precedence), top-down from its numbers."""
    n = cfg.neuron
    wr = n.weight_range
    w_min, w_max = (float(wr[0]), float(wr[1])) if isinstance(wr, list) else (None, None)
    own_firing = {"alpha_dis": n.alpha_dis, "fire_threshold": n.fire_threshold, "t_min": n.t_min}
    if n.from_ is None:
        ep, em = (n.e_rev, -n.e_rev) if n.e_rev is not None else (n.e_plus, n.e_minus)
        return NeuronModel(e_plus=float(ep), e_minus=float(em), e_dis=math.inf if n.e_dis is None else float(n.e_dis),
                           leak=float(n.leak), w_min=w_min, w_max=w_max, source=source, **own_firing)
    if cell is None:
        raise ConfigError(f"config '{cfg.name}' takes its model from a cell (neuron.from): pass --cell PATH")
    cell_firing = n.use_e_dis and n.use_cell_firing and n.e_dis is None and cell.alpha_dis is not None
    model = NeuronModel.from_cell(cell, lambda_table=n.lambda_table, kicks=n.spike_kicks, firing=cell_firing,
                                  e_dis=n.use_e_dis, weight_range=wr == "cell", fan_in=n.fan_in_law, source=source)
    upd: dict[str, Any] = {"leak": float(n.leak)}
    if n.e_dis is not None:
        upd["e_dis"] = float(n.e_dis)
    if not cell_firing:
        upd.update(own_firing)
    if wr != "cell":
        upd.update(w_min=w_min, w_max=w_max)
    return replace(model, **upd)


def resolve_dataset_path(cfg: TrainConfig, config_path: Path | None) -> TrainConfig:
    """An absolute `dataset.path`: relative to the config file when it is there, else to the working directory. The
    run's config.yaml then finds the data from anywhere (resume, eval, verify)."""
    p = cfg.dataset.path
    if p is None or Path(p).is_absolute():
        return cfg
    cand = config_path.parent / p if config_path is not None else None
    full = (cand if cand is not None and cand.exists() else Path(p)).resolve()
    if not full.is_file():
        raise ConfigError(f"dataset file {p} not found (relative paths start at the config's folder or here)")
    return cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"path": str(full)})})
