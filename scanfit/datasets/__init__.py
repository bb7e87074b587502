"""Datasets with Keras's `load_data()` API: `fashion_mnist`, `mnist`; `locate` tells where each is."""
from scanfit.datasets import fashion_mnist, mnist
from scanfit.datasets._source import locate
from scanfit.datasets.idx import read_idx, write_idx

__all__ = ["fashion_mnist", "mnist", "locate", "read_idx", "write_idx"]
