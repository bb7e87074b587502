"""scanfit's native CPU kernels: C++ built on first use (`build`), called from XLA programs through JAX's FFI."""
