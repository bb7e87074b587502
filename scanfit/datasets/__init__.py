"""Datasets with Keras's `load_data()` API: `boston_housing`, `california_housing`, `cifar10`, `cifar100`,
`fashion_mnist`, `imdb`, `mnist`, `reuters`; `locate` tells where each is."""
from scanfit.datasets import boston_housing, california_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters
from scanfit.datasets._source import locate
from scanfit.datasets.idx import read_idx, write_idx

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters",
           "locate", "read_idx", "write_idx"]
