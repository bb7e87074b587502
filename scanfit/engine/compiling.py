"""How scanfit's programs get compiled: under the current distribution, ahead of time, and for the run's length.

`Program` wraps one function `jit`-ed two ways. On CPU, XLA's older fusion
emitters compile a program 16-40% faster than its default (newer) ones, for
the same computation (the same weights bit for bit where measured; a sum may
round differently in its last bit), but run elementwise work (a square root,
a division: an optimizer's update) up to several times slower. So a *short run*,
one whose program passes over at most `SHORT_RUN_SAMPLES` samples in all
(samples x epochs), uses the faster-compiling variant, where compiling is
most of the time; longer runs, and every run on a GPU, use XLA's defaults.
`run_length` says how long the coming run is.

`Program.compile_ahead` traces a program now and compiles it on a background
thread, so that one core compiles it while this thread goes on.
"""
import concurrent.futures
import contextlib
import contextvars

import jax

from scanfit import distribution

# Sample passes (samples x passes over them) up to which a run compiles for a short run. Measured on the
# 2-core CPU (seed MLP, CNN, LSTM, GRU, SimpleRNN): the older emitters save 0.03-0.13 s per program and
# cost at most 2.6 us per sample pass (the MLP's Adam update), so they pay off well below this.
SHORT_RUN_SAMPLES = 4096
SHORT_RUN_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

_SHORT_RUN = contextvars.ContextVar("scanfit_short_run", default=False)


@contextlib.contextmanager
def run_length(sample_passes):
    """Programs called or compiled inside are for a run over `sample_passes` samples in all (None: unknown,
    taken as long)."""
    token = _SHORT_RUN.set(sample_passes is not None and sample_passes <= SHORT_RUN_SAMPLES)
    try:
        yield
    finally:
        _SHORT_RUN.reset(token)


def is_short_run():
    """Whether the programs called now are for a short run."""
    return _SHORT_RUN.get()


def short_run_options():
    """The compiler options of a short run's programs on this backend (none off CPU)."""
    return SHORT_RUN_OPTIONS if jax.default_backend() == "cpu" else None


def jit_once(function, **jit_options):
    """`jax.jit(function)` for a program that runs once, briefly (creating an optimizer state, say)."""
    return jax.jit(function, compiler_options=short_run_options(), **jit_options)


class Program:
    """A jitted program called with the current distribution's `batch_sharding`, its arrays replicated over
    it, compiled for the current `run_length`."""

    def __init__(self, function, **jit_options):
        self.default = jax.jit(function, **jit_options)
        options = short_run_options()
        self.short = self.default if options is None else jax.jit(function, compiler_options=options, **jit_options)
        self.compiling = []  # compiles started by compile_ahead, waited for before the next call

    @property
    def jitted(self):
        """The jitted function for the current run's length."""
        return self.short if is_short_run() else self.default

    def __call__(self, *args, **kwargs):
        self.wait_for_compiles()
        sharding = distribution.batch_sharding()
        return self.jitted(*distribution.replicate(args), batch_sharding=sharding, **kwargs)

    def lower(self, *args, **kwargs):
        """The program traced for these arguments (JAX's `Lowered`); an argument may be abstract (a
        `jax.ShapeDtypeStruct`). Once compiled, a call with arguments of the same shapes finds it compiled."""
        sharding = distribution.batch_sharding()
        return self.jitted.lower(*distribution.replicate(args), batch_sharding=sharding, **kwargs)

    def compile_ahead(self, *args, **kwargs):
        """Trace the program for these arguments now and compile it on a background thread, so that XLA
        compiles it while this thread goes on; the next call waits for it."""
        self.compiling.append(in_background(self.lower(*args, **kwargs).compile))

    def wait_for_compiles(self):
        """Wait for the compiles that compile_ahead started; raises what compiling raised."""
        compiling, self.compiling = self.compiling, []
        for future in compiling:
            future.result()

    def _cache_size(self):
        """How many compiled versions there are, as JAX's jitted functions count them."""
        sizes = {id(jitted): jitted._cache_size() for jitted in (self.default, self.short)}
        return sum(sizes.values())


_BACKGROUND = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="scanfit-compile")


def in_background(function, *args):
    """`function(*args)` on scanfit's background thread (one, so that work queued there runs in order while
    this thread compiles); a `concurrent.futures.Future`."""
    return _BACKGROUND.submit(function, *args)
