"""Datasets as input spike times.

Encodings (docs/paper.md §1.5):
- images and digits: t = 1 - x with x in [0, 1] (brighter pixels spike earlier);
- Iris (the circuit experiment): t = x for the 4 features, plus a bias spike at t = 0 as the 5th input (index 4).
  Features are min-max scaled with the minimum and maximum of the *training* split only, then clipped to [0, 1].

Splits are fixed and seeded: Iris 100 train / 50 test stratified; digits 1437 / 360 stratified (80 / 20).
Fashion-MNIST (IDX gz) and CIFAR-10 (python pickle batches) are read from a data directory; when the files are absent a
ConfigError names them and where to put them (with `dataset.download: true` a download is attempted first).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from imcpnn.errors import ConfigError
from imcpnn.userfiles import load_csv_matrix, read_user_text

IRIS_BIAS_INDEX = 4
FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass
class DataBundle:
    """Spike-time tensors (float32, values in [0, 1]) and integer labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _stratified_split(y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed, shuffle=True)
    return np.sort(tr), np.sort(te)


def encode(x: np.ndarray, encoding: str) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    if encoding == "one_minus_x":
        return 1.0 - x
    if encoding == "x":
        return x
    raise ConfigError(f"unknown encoding {encoding!r} (use 'one_minus_x' or 'x')")


def iris_split(seed: int = 0, encoding: str = "x", as_torch: bool = True):
    """Iris as spike times: (x_train (100, 5), y_train (100,), x_test (50, 5), y_test (50,)).

    Columns 0..3 are the features (min-max scaled on the train split, clipped to [0, 1], then t = x by default,
    docs/paper.md §1.5); column 4 is the bias spike at t = 0. Labels 0, 1, 2 = setosa, versicolor, virginica (output
    neurons 0, 1, 2).
    """
    from sklearn.datasets import load_iris

    ds = load_iris()
    x, y = ds.data.astype(np.float64), ds.target.astype(np.int64)
    tr, te = _stratified_split(y, 50, seed)
    lo, hi = x[tr].min(axis=0), x[tr].max(axis=0)
    scale = np.where(hi > lo, hi - lo, 1.0)

    def enc(a):
        t = encode((a - lo) / scale, encoding)
        return np.concatenate([t, np.zeros((len(a), 1))], axis=1)  # bias spike at t = 0

    out = (enc(x[tr]), y[tr], enc(x[te]), y[te])
    if not as_torch:
        return out
    return (torch.tensor(out[0], dtype=torch.float32), torch.tensor(out[1]),
            torch.tensor(out[2], dtype=torch.float32), torch.tensor(out[3]))


def digits_split(seed: int = 0, encoding: str = "one_minus_x"):
    """sklearn 8x8 digits as spike times t = 1 - x/16: (x_train (1437, 64), y_train, x_test (360, 64), y_test)."""
    from sklearn.datasets import load_digits

    ds = load_digits()
    x, y = ds.data.astype(np.float64) / 16.0, ds.target.astype(np.int64)
    tr, te = _stratified_split(y, 360, seed)
    t = encode(x, encoding)
    return (torch.tensor(t[tr], dtype=torch.float32), torch.tensor(y[tr]),
            torch.tensor(t[te], dtype=torch.float32), torch.tensor(y[te]))


# ---------------------------------------------------------------------------------------------------- Fashion-MNIST
def file_split(ds_cfg):
    """`dataset: {name: file, path, encoding}`: the user's features and class indices as spike times.

    CSV: one sample per row, the features, then the class index in the last column (a header line is skipped).
    .npz: `x` (n, features) and `y` (n,), optionally `x_test`/`y_test` (else a stratified split, `test_fraction`).
    Features are min-max scaled on the train split (`scale: none`: taken as they are, in [0, 1]), then encoded."""
    x, y, x_test, y_test = _read_features(Path(ds_cfg.path))
    if x_test is None:
        try:
            tr, te = _stratified_split(y, max(1, round(len(y) * ds_cfg.test_fraction)), ds_cfg.split_seed)
        except ValueError as exc:  # too few samples of a class for a stratified split
            raise ConfigError(f"dataset {ds_cfg.path}: cannot split into train and test ({exc})") from None
        x, y, x_test, y_test = x[tr], y[tr], x[te], y[te]
    if ds_cfg.scale == "minmax":
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        x, x_test = (x - lo) / span, (x_test - lo) / span
    elif min(x.min(), x_test.min()) < 0 or max(x.max(), x_test.max()) > 1:
        raise ConfigError(f"dataset {ds_cfg.path}: with scale: none the features must lie in [0, 1]")
    t = [torch.tensor(encode(a, ds_cfg.encoding), dtype=torch.float32) for a in (x, x_test)]
    return t[0], torch.tensor(y), t[1], torch.tensor(y_test)


def _read_features(path: Path):
    """(x, y, x_test or None, y_test or None) from a CSV or .npz; every defect is one ConfigError."""
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"dataset {path}: not a readable .npz archive ({exc})") from None
        if "x" not in arrays or "y" not in arrays or (("x_test" in arrays) != ("y_test" in arrays)):
            raise ConfigError(f"dataset {path}: needs arrays x and y (and x_test with y_test); has {sorted(arrays)}")
        parts = [arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test")]
    else:
        text = read_user_text(path, "dataset")
        first = text.lstrip().split("\n", 1)[0]
        skip = 0 if all(_is_number(c) for c in first.split(",")) else 1  # a header line
        m = load_csv_matrix(path, "dataset", skiprows=skip)
        if m.shape[1] < 2:
            raise ConfigError(f"dataset {path}: needs feature columns and a last label column")
        parts = [m[:, :-1], m[:, -1], None, None]
    for i in (0, 2):
        if parts[i] is not None:
            parts[i] = _checked_x(parts[i], path)
    for i in (1, 3):
        if parts[i] is not None:
            parts[i] = _checked_labels(parts[i], path)
    if parts[2] is not None and parts[2].shape[1] != parts[0].shape[1]:
        raise ConfigError(f"dataset {path}: x_test has {parts[2].shape[1]} features, x has {parts[0].shape[1]}")
    if len(parts[0]) != len(parts[1]) or (parts[2] is not None and len(parts[2]) != len(parts[3])):
        raise ConfigError(f"dataset {path}: features and labels differ in number of samples")
    return parts


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _checked_x(x: np.ndarray, path: Path) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ConfigError(f"dataset {path}: features must be a finite 2-D array (samples x features), got {x.shape}")
    return x


def _checked_labels(y: np.ndarray, path: Path) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(y) == 0 or not np.all(y == np.round(y)) or y.min() < 0:
        raise ConfigError(f"dataset {path}: labels must be class indices 0, 1, 2, ...")
    return y.astype(np.int64)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): uint8 data, big-endian header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read IDX file ({exc}); re-download it") from None
    if len(data) < 4:
        raise ConfigError(f"{path}: truncated IDX file; re-download it")
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ConfigError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()}); re-download it")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise ConfigError(f"{path}: IDX size mismatch (header says {dims}, {len(body)} bytes); re-download it")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip if the name ends in .gz). Used by tests and for small subsets."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def _try_download(url: str, dest: Path) -> bool:
    import urllib.request

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        urllib.request.urlretrieve(url, tmp)  # noqa: S310 (fixed https/http dataset URLs)
        os.replace(tmp, dest)
        return True
    except Exception:  # no network: fall through to the clear message
        return False


def _find_fmnist_dir(data_dir: Path) -> Path | None:
    for cand in (data_dir, data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw", data_dir / "fmnist"):
        if all((cand / f).is_file() or (cand / f[:-3]).is_file() for f in FMNIST_FILES.values()):
            return cand
    return None


def load_fashion_mnist(data_dir: str | os.PathLike, download: bool = False):
    """Fashion-MNIST as (x_train (60000, 1, 28, 28) in [0,1] float32, y_train, x_test, y_test) numpy arrays."""
    data_dir = Path(data_dir)
    found = _find_fmnist_dir(data_dir)
    if found is None and download:
        target = data_dir / "fashion-mnist"
        for f in FMNIST_FILES.values():
            if not (target / f).is_file():
                _try_download(FMNIST_URL + f, target / f)
        found = _find_fmnist_dir(data_dir)
    if found is None:
        names = ", ".join(FMNIST_FILES.values())
        raise ConfigError(f"Fashion-MNIST files not found under {data_dir}: need {names} in {data_dir} or "
                          f"{data_dir / 'fashion-mnist'} (from {FMNIST_URL}); set dataset.data_dir or --set data_dir=DIR")

    def get(key):
        p = found / FMNIST_FILES[key]
        return read_idx(p if p.is_file() else p.with_suffix(""))

    xtr, ytr, xte, yte = get("train_images"), get("train_labels"), get("test_images"), get("test_labels")
    if xtr.ndim != 3 or xtr.shape[0] != ytr.shape[0] or xte.shape[0] != yte.shape[0]:
        raise ConfigError(f"Fashion-MNIST files in {found} have inconsistent shapes "
                          f"({xtr.shape}, {ytr.shape}, {xte.shape}, {yte.shape}); re-download them")
    f = lambda a: (a.astype(np.float32) / 255.0)[:, None, :, :]  # noqa: E731
    return f(xtr), ytr.astype(np.int64), f(xte), yte.astype(np.int64)


# ---------------------------------------------------------------------------------------------------- CIFAR-10
def _find_cifar_dir(data_dir: Path) -> Path | None:
    for cand in (data_dir / CIFAR10_DIR, data_dir):
        if all((cand / f).is_file() for f in CIFAR10_FILES):
            return cand
    return None


_np_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array-rebuild function, wherever numpy keeps it


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that can build only what a CIFAR-10 python batch holds (a dict of bytes keys, a list of int labels,
    a uint8 numpy array): every other global is refused, so a crafted batch cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
                ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}") from None


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = _CifarUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise ConfigError(f"{path}: refused: not a plain CIFAR-10 batch ({exc}); re-download it") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise ConfigError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}); re-download it") from None
    try:
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise ConfigError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}); re-download it") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ConfigError(f"{path}: CIFAR-10 batch has shape {data.shape}, expected (N, 3072); re-download it")
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(path: str | os.PathLike, data: np.ndarray, labels) -> None:
    """Write a CIFAR-10 style python pickle batch (used by tests)."""
    d = {b"data": np.ascontiguousarray(data, dtype=np.uint8).reshape(len(data), -1),
         b"labels": [int(v) for v in labels], b"batch_label": b"generated"}
    with open(path, "wb") as fh:
        pickle.dump(d, fh)


def load_cifar10(data_dir: str | os.PathLike, download: bool = False):
    """CIFAR-10 as (x_train (50000, 3, 32, 32) in [0,1] float32, y_train, x_test, y_test) numpy arrays."""
    data_dir = Path(data_dir)
    found = _find_cifar_dir(data_dir)
    if found is None and download:
        import tarfile

        tgz = data_dir / "cifar-10-python.tar.gz"
        if tgz.is_file() or _try_download(CIFAR10_URL, tgz):
            try:
                with tarfile.open(tgz) as tf:
                    try:
                        tf.extractall(data_dir, filter="data")
                    except TypeError:  # Python without extraction filters
                        tf.extractall(data_dir)  # noqa: S202 (the official CIFAR-10 archive)
            except Exception:  # noqa: BLE001
                pass
        found = _find_cifar_dir(data_dir)
    if found is None:
        raise ConfigError(f"CIFAR-10 files not found under {data_dir}: need {', '.join(CIFAR10_FILES)} in "
                          f"{data_dir / CIFAR10_DIR} (extract {CIFAR10_URL} there); set dataset.data_dir or "
                          f"--set data_dir=DIR")
    parts = [_read_cifar_batch(found / f) for f in CIFAR10_FILES[:5]]
    xte, yte = _read_cifar_batch(found / "test_batch")
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    return xtr.astype(np.float32) / 255.0, ytr, xte.astype(np.float32) / 255.0, yte


# ---------------------------------------------------------------------------------------------------- dispatch
def load_dataset(ds_cfg, flatten: bool) -> DataBundle:
    """Build the DataBundle a config asks for (ds_cfg is a `DatasetConfig`)."""
    name = ds_cfg.name
    enc = ds_cfg.encoding or ("x" if name == "iris" else "one_minus_x")
    if name == "iris":
        xtr, ytr, xte, yte = iris_split(ds_cfg.split_seed, encoding=enc)
        n_classes = 3
    elif name == "digits":
        xtr, ytr, xte, yte = digits_split(ds_cfg.split_seed, encoding=enc)
        n_classes = 10
    elif name == "file":
        xtr, ytr, xte, yte = file_split(ds_cfg)
        n_classes = int(max(ytr.max(), yte.max())) + 1
    elif name in ("fashion_mnist", "cifar10"):
        loader = load_fashion_mnist if name == "fashion_mnist" else load_cifar10
        a, ytr, b, yte = loader(ds_cfg.data_dir, download=ds_cfg.download)
        if ds_cfg.limit_train:
            a, ytr = a[:ds_cfg.limit_train], ytr[:ds_cfg.limit_train]
        if ds_cfg.limit_test:
            b, yte = b[:ds_cfg.limit_test], yte[:ds_cfg.limit_test]
        xtr = torch.from_numpy(encode(a, enc).astype(np.float32))
        xte = torch.from_numpy(encode(b, enc).astype(np.float32))
        ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
        n_classes = 10
    else:  # pragma: no cover - the config validator rejects other names
        raise ConfigError(f"unknown dataset {name!r}")
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    elif xtr.ndim == 2:
        raise ConfigError(f"dataset {name!r} has flat features; use model.arch: mlp")
    return DataBundle(xtr.contiguous(), ytr.long(), xte.contiguous(), yte.long(), n_classes, name)


def augment_images(t: torch.Tensor, flip: bool = True, crop_pad: int = 4, rotate_deg: float = 15.0) -> torch.Tensor:
    """CIFAR-10 augmentation on a spike-time batch (B, C, H, W): random horizontal flip, random crop after padding
    with silent inputs (t = 1), random rotation in [-rotate_deg, rotate_deg] (areas rotated in are silent).
    Uses the global torch RNG (its state is in every checkpoint, so resume stays exact)."""
    b, _, h, w = t.shape
    x = 1.0 - t  # intensity domain: 0 = no spike
    if flip:
        m = torch.rand(b) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(-1), x)
    if crop_pad:
        xp = torch.nn.functional.pad(x, (crop_pad,) * 4)
        dx = torch.randint(0, 2 * crop_pad + 1, (b,))
        dy = torch.randint(0, 2 * crop_pad + 1, (b,))
        rows = (dy[:, None] + torch.arange(h)[None, :])  # (b, h)
        cols = (dx[:, None] + torch.arange(w)[None, :])  # (b, w)
        bi = torch.arange(b)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if rotate_deg:
        ang = (torch.rand(b) * 2 - 1) * math.radians(rotate_deg)
        cos, sin = torch.cos(ang), torch.sin(ang)
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1), torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    return (1.0 - x.clamp(0.0, 1.0)).contiguous()
