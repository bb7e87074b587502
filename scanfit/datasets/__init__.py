"""Datasets with Keras's `load_data()` API: `cifar10`, `fashion_mnist`, `imdb`, `mnist`; `locate` tells where each is."""
from scanfit.datasets import cifar10, fashion_mnist, imdb, mnist
from scanfit.datasets._source import locate
from scanfit.datasets.idx import read_idx, write_idx

__all__ = ["cifar10", "fashion_mnist", "imdb", "mnist", "locate", "read_idx", "write_idx"]
