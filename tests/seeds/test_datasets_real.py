"""The real data: Debian's Fashion-MNIST and the MNIST sample in data/mnist-sample."""
from pathlib import Path

import numpy as np
import pytest

from scanfit.datasets import _source, fashion_mnist, locate, mnist

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MNIST_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "mnist-sample"


@pytest.fixture(autouse=True)
def no_other_copies(tmp_path, monkeypatch):
    """Only the real folders count: no data dir, an empty cache, no downloads."""
    monkeypatch.delenv("SCANFIT_DATA_DIR", raising=False)
    monkeypatch.setenv("SCANFIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SCANFIT_OFFLINE", "1")


def test_debian_fashion_mnist():
    """Needs `apt-get install dataset-fashion-mnist`; fails, saying so, without it."""
    assert _source.DEBIAN_DIRS["fashion_mnist"] == DEBIAN_FASHION_MNIST
    assert locate("fashion_mnist").where == DEBIAN_FASHION_MNIST
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # verifies the four MD5s
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
    assert len(fashion_mnist.CLASS_NAMES) == 10 and fashion_mnist.CLASS_NAMES[9] == "Ankle boot"


def test_mnist_sample():
    """The sample shipped in data/mnist-sample."""
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=MNIST_SAMPLE)
    assert x_train.shape == (7996, 28, 28) and y_train.shape == (7996,)
    assert x_test.shape == (2004, 28, 28) and y_test.shape == (2004,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert sorted(set(y_train.tolist())) == list(range(10))
    assert x_train.max() == 255
