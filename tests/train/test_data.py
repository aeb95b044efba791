"""Datasets: Iris / digits encodings and splits, Fashion-MNIST IDX and CIFAR-10 pickle loaders on generated files,
and the paper cell fixture."""

from pathlib import Path

import numpy as np
import pytest
import torch

from imcpnn.errors import ConfigError
from imcpnn.cell import load_cell
from imcpnn.train import data as D

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_cell_fixture_is_valid_paper_table2():
    cell = load_cell(FIXTURES / "cell_paper.json")
    assert cell.e_rev_plus == pytest.approx(2.80)
    assert cell.e_rev_minus == pytest.approx(-1.53)
    assert cell.e_dis == pytest.approx(6.44)
    assert cell.c_m == pytest.approx(140e-15)
    assert cell.v_th == pytest.approx(0.872)
    assert cell.i_unit == pytest.approx(122.08e-9)
    assert cell.w_max_plus > 0 and cell.w_max_minus > 0


def test_iris_split_shapes_encoding_and_bias():
    xtr, ytr, xte, yte = D.iris_split(0)
    assert xtr.shape == (100, 5) and xte.shape == (50, 5)
    assert xtr.dtype == torch.float32
    assert torch.all(xtr[:, 4] == 0) and torch.all(xte[:, 4] == 0)  # bias spike at t = 0
    assert torch.all((xte >= 0) & (xte <= 1))
    # scaled on the train split only: each train feature column spans exactly [0, 1]
    assert torch.allclose(xtr[:, :4].min(0).values, torch.zeros(4))
    assert torch.allclose(xtr[:, :4].max(0).values, torch.ones(4))
    # stratified: 50 test samples, about 1/3 per class
    assert sorted(torch.bincount(yte).tolist()) in ([16, 17, 17], [16, 16, 18])
    # fixed and seeded
    again = D.iris_split(0)
    assert torch.equal(again[2], xte)
    assert not torch.equal(D.iris_split(1)[2], xte)


def test_iris_encoding_is_t_equals_x():
    x_np = D.iris_split(0, as_torch=False)
    x_inv = D.iris_split(0, encoding="one_minus_x", as_torch=False)
    assert np.allclose(x_np[0][:, :4], 1 - x_inv[0][:, :4])


def test_digits_split():
    xtr, ytr, xte, yte = D.digits_split(0)
    assert xtr.shape == (1437, 64) and xte.shape == (360, 64)
    assert float(xtr.min()) >= 0 and float(xtr.max()) <= 1
    assert set(yte.tolist()) == set(range(10))


def _make_fmnist(dirpath: Path, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    labs = rng.integers(0, 10, size=n_train, dtype=np.uint8)
    timg = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    tlab = rng.integers(0, 10, size=n_test, dtype=np.uint8)
    D.write_idx(dirpath / "train-images-idx3-ubyte.gz", imgs)
    D.write_idx(dirpath / "train-labels-idx1-ubyte.gz", labs)
    D.write_idx(dirpath / "t10k-images-idx3-ubyte.gz", timg)
    D.write_idx(dirpath / "t10k-labels-idx1-ubyte.gz", tlab)
    return imgs, labs, timg, tlab


def test_fashion_mnist_idx_loader(tmp_path):
    sub = tmp_path / "fashion-mnist"
    sub.mkdir()
    imgs, labs, timg, tlab = _make_fmnist(sub)
    xtr, ytr, xte, yte = D.load_fashion_mnist(tmp_path)
    assert xtr.shape == (12, 1, 28, 28) and xte.shape == (5, 1, 28, 28)
    assert np.allclose(xtr[:, 0] * 255, imgs)
    assert np.array_equal(ytr, labs) and np.array_equal(yte, tlab)


def test_fashion_mnist_missing_names_files(tmp_path):
    with pytest.raises(ConfigError) as ei:
        D.load_fashion_mnist(tmp_path)
    msg = str(ei.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg and "\n" not in msg


def test_idx_corrupt_is_clear_error(tmp_path):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x03abc")
    with pytest.raises(ConfigError, match="size mismatch"):
        D.read_idx(p)


def test_cifar10_pickle_loader(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in D.CIFAR10_FILES:
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4).tolist()
        D.write_cifar_batch(d / name, data, labels)
        batches[name] = (data, labels)
    xtr, ytr, xte, yte = D.load_cifar10(tmp_path)
    assert xtr.shape == (20, 3, 32, 32) and xte.shape == (4, 3, 32, 32)
    assert np.allclose(xtr[0].reshape(-1) * 255, batches["data_batch_1"][0][0])
    assert ytr.tolist()[:4] == batches["data_batch_1"][1]
    assert yte.tolist() == batches["test_batch"][1]


def test_cifar10_missing_names_files(tmp_path):
    with pytest.raises(ConfigError, match="data_batch_1.*test_batch"):
        D.load_cifar10(tmp_path)


def test_augment_keeps_range_and_shape():
    torch.manual_seed(0)
    t = torch.rand(6, 3, 32, 32)
    out = D.augment_images(t)
    assert out.shape == t.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1
