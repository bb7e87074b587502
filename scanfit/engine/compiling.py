"""How scanfit's programs get compiled: under the current distribution, ahead of time, and for the run's length.

`Program` wraps one function `jit`-ed two ways. On CPU, XLA's older fusion
emitters compile a program 16-40% faster than its default (newer) ones, for
the same computation (the same weights bit for bit where measured; a sum may
round differently in its last bit), but run elementwise work (a square root,
a division: an optimizer's update) up to several times slower. So a *short run*,
one whose program passes over at most `SHORT_RUN_SAMPLES` samples in all
(samples x epochs), uses the faster-compiling variant, where compiling is
most of the time; longer runs, and every run on a GPU, use XLA's defaults.
So does a short run of a model that repeats its layers (`repeats_layers`): XLA's
default emitters compile a ResNet's or an Inception's repeated blocks faster
(they seem to compile each distinct fusion once). `run_length` says how long
the coming run is, and of which model.

Every program on CPU, short run or long, keeps matrix products out of XLA:CPU's
YNNPACK library fusions (`CPU_LIBRARY_FUSIONS`); see `cpu_options`.

`Program.compile_ahead` traces a program now and compiles it on a background
thread, so that one core compiles it while this thread goes on.

A program may donate arguments (jit's ``donate_argnames``, given by name):
XLA then writes its outputs into their buffers (the weights and optimizer
state an epoch updates), so they are not held twice, and the arrays given
are deleted. A buffer can be donated once per call, so `Program` hands XLA
a copy of an array that the donated arguments hold more than once
(`distinct_arrays`).
"""
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import os

import jax

from scanfit import distribution

# Sample passes (samples x passes over them) up to which a run compiles for a short run. Measured on the
# 2-core CPU (seed MLP, CNN, LSTM, GRU, SimpleRNN): the older emitters save 0.03-0.13 s per program and
# cost at most 2.6 us per sample pass (the MLP's Adam update), so they pay off well below this.
SHORT_RUN_SAMPLES = 4096
SHORT_RUN_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

# The share of distinct layers (by their weights' shapes) at or below which a model "repeats its layers". Measured
# (2026-12-08, the first `predict` of 2 samples, XLA's compile, fresh processes, the older emitters' time over the
# defaults'): the seed MLP and CNN (every layer distinct) 0.74x-0.79x, VGG16 (0.69 distinct) 0.87x; ResNet50 (0.25)
# 1.03x, MobileNetV2 (0.39) 0.98x-1.10x, Xception (0.30) 1.10x-1.23x, DenseNet121 (0.27) 1.24x, InceptionV3 (0.29)
# 2.27x; a fit of 64 samples of 8 equal Dense-BatchNormalization blocks (0.24) 1.18x, of 8 such blocks with widths
# all different (1.0) 0.76x; 2 equal blocks (0.8) 0.91x.
DISTINCT_LAYERS_SHARE = 0.5

# XLA:CPU (jaxlib 0.10) hands matrix products, reductions and elementwise work to YNNPACK's library fusions by
# default. Its products ran 1.0-2.7x slower than XLA's own dot on the shapes of the seeds' models (a batch of
# 32 x 784 times 784 x 100: 41 us against 27-32 us per step; 32 x 3,136 times 3,136 x 64: 109 against 78 us),
# while the CNN needs its reductions (turning YNNPACK off entirely made the seed CNN's epoch 20-30% slower, its
# reduce fusions the slower part). So CPU programs keep YNNPACK for reductions only: the seed MLP's steady epoch went
# from 0.191-0.196 s to 0.148-0.153 s, the CNN's, the LSTM's and a Sweep's stayed within noise.
CPU_LIBRARY_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE"}

_SHORT_RUN = contextvars.ContextVar("scanfit_short_run", default=False)
_OLDER_EMITTERS = contextvars.ContextVar("scanfit_older_emitters", default=False)


@contextlib.contextmanager
def run_length(sample_passes, model=None):
    """Programs called or compiled inside are for a run over `sample_passes` samples in all (None: unknown,
    taken as long), of `model` (its `weights`, read for a short run only, tell whether it repeats its layers)."""
    short = sample_passes is not None and sample_passes <= SHORT_RUN_SAMPLES
    older = short and not (model is not None and repeats_layers(model.weights))
    tokens = _SHORT_RUN.set(short), _OLDER_EMITTERS.set(older)
    try:
        yield
    finally:
        _OLDER_EMITTERS.reset(tokens[1])
        _SHORT_RUN.reset(tokens[0])


def is_short_run():
    """Whether the programs called now are for a short run."""
    return _SHORT_RUN.get()


def uses_older_emitters():
    """Whether the programs called now compile with XLA's older emitters (a short run's, unless its model repeats
    its layers)."""
    return _OLDER_EMITTERS.get()


def repeats_layers(weights):
    """Whether at most `DISTINCT_LAYERS_SHARE` of the layers holding `weights` (variables, grouped by the layer
    in their path) are distinct, a layer being known by its weights' shapes and dtypes."""
    layers = {}
    for weight in weights:
        layers.setdefault(weight.path.rpartition("/")[0], []).append((tuple(weight.shape), str(weight.dtype)))
    kinds = {tuple(shapes) for shapes in layers.values()}
    return bool(layers) and len(kinds) <= DISTINCT_LAYERS_SHARE * len(layers)


@functools.cache
def cpu_options():
    """`CPU_LIBRARY_FUSIONS` where programs compile for XLA:CPU and its compiler knows the option (a jaxlib
    without it compiles with its defaults), else an empty dict. Asked once per process, by compiling an empty
    program. A choice of library fusions in the ``XLA_FLAGS`` environment variable is left to stand."""
    if jax.default_backend() != "cpu" or any(name in os.environ.get("XLA_FLAGS", "") for name in CPU_LIBRARY_FUSIONS):
        return {}
    try:
        jax.jit(_empty_program, compiler_options=CPU_LIBRARY_FUSIONS).lower().compile()
    except jax.errors.JaxRuntimeError:
        return {}
    return CPU_LIBRARY_FUSIONS


def _empty_program():
    """The program `cpu_options` compiles to ask XLA whether it knows the options."""
    return 0.0


def long_run_options():
    """The compiler options of a long run's programs on this backend (None: XLA's defaults)."""
    return cpu_options() or None


def short_run_options():
    """The compiler options of a short run's programs on this backend (none off CPU)."""
    return {**SHORT_RUN_OPTIONS, **cpu_options()} if jax.default_backend() == "cpu" else None


def jit_once(function, **jit_options):
    """`jax.jit(function)` for a program that runs once, briefly (creating an optimizer state, say)."""
    return jax.jit(function, compiler_options=short_run_options(), **jit_options)


def jit_long(function, **jit_options):
    """`jax.jit(function)` for a program that runs long (a sweep's epoch, say)."""
    return jax.jit(function, compiler_options=long_run_options(), **jit_options)


class Program:
    """A jitted program called with the current distribution's `batch_sharding`, its arrays replicated over
    it, compiled for the current `run_length` (with the older emitters or XLA's defaults)."""

    def __init__(self, function, **jit_options):
        self.default = jit_long(function, **jit_options)
        self.short = self.default if short_run_options() is None else jit_once(function, **jit_options)
        donated = jit_options.get("donate_argnames", ())
        donated = (donated,) if isinstance(donated, str) else tuple(donated)
        self.donated = tuple(i for i, name in enumerate(inspect.signature(function).parameters) if name in donated)
        self.compiling = []  # compiles started by compile_ahead, waited for before the next call

    @property
    def jitted(self):
        """The jitted function for the current run's length."""
        return self.short if uses_older_emitters() else self.default

    def __call__(self, *args, **kwargs):
        self.wait_for_compiles()
        sharding = distribution.batch_sharding()
        args = distribution.replicate(args)
        if self.donated:  # (passed by position, as scanfit passes them)
            positions = [i for i in self.donated if i < len(args)]
            donated = dict(zip(positions, distinct_arrays([args[i] for i in positions])))
            args = tuple(donated.get(i, arg) for i, arg in enumerate(args))
        return self.jitted(*args, batch_sharding=sharding, **kwargs)

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


def distinct_arrays(tree):
    """`tree` with each JAX array that it holds more than once given as a copy after its first place, so that a
    program may donate every buffer of it (XLA refuses to be given one buffer twice: a variable assigned
    another's value, an optimizer state that keeps the weights themselves)."""
    seen = set()

    def distinct(leaf):
        if isinstance(leaf, jax.Array) and id(leaf) in seen:
            return _copy(leaf)
        seen.add(id(leaf))
        return leaf

    return jax.tree.map(distinct, tree)


def copies(tree):
    """`tree` with each JAX array copied (on its device), for keeping what a donating program will delete."""
    return jax.tree.map(_copy, tree)


def _copy(leaf):
    """A copy of a JAX array on its device (a leaf of another kind as it is)."""
    return jax.device_put(leaf, may_alias=False) if isinstance(leaf, jax.Array) else leaf


_BACKGROUND = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="scanfit-compile")


def in_background(function, *args):
    """`function(*args)` on scanfit's background thread (one, so that work queued there runs in order while
    this thread compiles); a `concurrent.futures.Future`."""
    return _BACKGROUND.submit(function, *args)
