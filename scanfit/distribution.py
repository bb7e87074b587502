"""keras.distribution: data-parallel training over devices and processes, on JAX's own sharding.

    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=64)        # unchanged code, every device busy

With a `DataParallel` distribution set, every compiled epoch splits each
global batch evenly over the devices, keeps the weights and the optimizer
state whole on every device, and lets XLA all-reduce the gradients and the
metric sums inside the program, so weights, metrics and History are the
single-device ones. For several processes (hosts), call `initialize` first
in each; every process then runs the same script on the same full arrays,
or, with ``DataParallel(auto_shard_dataset=False)``, each on its own shard.
"""
import contextlib
import math
import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from scanfit import seeding as scanfit_random

DEFAULT_BATCH_DIM_NAME = "batch"

_current = None


def list_devices(device_type=None):
    """All devices of one type ('cpu', 'gpu', 'tpu'; default: the accelerators, else the CPU), as "type:id".

    With several processes these are the devices of every process.
    """
    return [f"{device.platform}:{device.id}" for device in _jax_devices(device_type)]


def get_device_count(device_type=None):
    """How many devices `list_devices(device_type)` lists."""
    return len(_jax_devices(device_type))


def _jax_devices(device_type):
    return jax.devices(device_type.lower() if device_type else None)


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Join a multi-process run (wraps `jax.distributed.initialize`); call it first, in every process.

    `job_addresses` is "host:port" of process 0 (or a comma-separated list
    whose first entry is process 0); each argument left None is read from
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES``
    or ``KERAS_DISTRIBUTION_PROCESS_ID``, else detected by JAX (Slurm,
    Open MPI, Cloud TPU). Unless a seed was set, the processes then agree on
    one random seed, so they build identical weights and shuffles.
    """
    environ = os.environ
    if job_addresses is None:
        job_addresses = environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in environ:
        num_processes = int(environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in environ:
        process_id = int(environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    coordinator = job_addresses
    if job_addresses and "," in job_addresses:
        addresses = job_addresses.split(",")
        if num_processes is not None and num_processes != len(addresses):
            raise ValueError(f"job_addresses lists {len(addresses)} jobs ({job_addresses!r}) "
                             f"but num_processes is {num_processes}.")
        coordinator = addresses[0]
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    if scanfit_random._seed is None:
        local_seed = np.uint32(int.from_bytes(os.urandom(4), "little"))
        scanfit_random.set_seed(int(multihost_utils.broadcast_one_to_all(local_seed)))


def process_index():
    """This process's index in a multi-process run (0 when there is one process)."""
    return jax.process_index()


def process_count():
    """How many processes take part in the run."""
    return jax.process_count()


def is_chief():
    """True in process 0, the one process that writes checkpoints, logs and other files."""
    return jax.process_index() == 0


class DeviceMesh:
    """Devices laid out in a named grid, e.g. ``DeviceMesh((8,), ["batch"])`` (a `jax.sharding.Mesh`)."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"shape and axis_names must not be empty; got shape={shape}, axis_names={axis_names}.")
        if len(shape) != len(axis_names):
            raise ValueError(f"shape and axis_names must have the same length; got shape={shape}, "
                             f"axis_names={axis_names}.")
        devices = np.asarray(list_devices() if devices is None else devices, dtype=object)
        if math.prod(shape) != devices.size:
            raise ValueError(f"A mesh of shape {tuple(shape)} needs {math.prod(shape)} devices; got {devices.size}.")
        self._shape = tuple(shape)
        self._axis_names = tuple(axis_names)
        self._devices = devices.reshape(self._shape)
        self._backend_mesh = None

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    @property
    def backend_mesh(self):
        """The `jax.sharding.Mesh` of these devices."""
        if self._backend_mesh is None:
            jax_devices = np.vectorize(_jax_device, otypes=[object])(self._devices)
            self._backend_mesh = Mesh(jax_devices, self._axis_names)
        return self._backend_mesh

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape}, axis_names={list(self.axis_names)}>"


def _jax_device(device):
    """The `jax.Device` named by "type:id" (or "type", meaning id 0), or `device` itself."""
    if isinstance(device, jax.Device):
        return device
    device_type, _, device_id = str(device).partition(":")
    try:
        candidates = jax.devices(device_type)
    except RuntimeError as error:
        raise ValueError(f"Device not found: {device!r} ({error})") from None
    for candidate in candidates:
        if candidate.id == int(device_id or 0):
            return candidate
    raise ValueError(f"Device not found: {device!r}; available: {list_devices(device_type)}")


class TensorLayout:
    """How one array is split over a `DeviceMesh`: one mesh axis name (or None) per array axis."""

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = None
        if device_mesh is not None:
            self.device_mesh = device_mesh

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError(f"This layout's device mesh is already set to {self._device_mesh}.")
        unknown = set(self._axes) - {None} - set(device_mesh.axis_names)
        if unknown:
            raise ValueError(f"Layout axes {sorted(unknown)} are not axes of {device_mesh}.")
        self._device_mesh = device_mesh

    @property
    def backend_layout(self):
        """The `jax.sharding.NamedSharding` of this layout."""
        if self._device_mesh is None:
            raise ValueError(f"{self!r} has no device mesh yet.")
        return NamedSharding(self._device_mesh.backend_mesh, PartitionSpec(*self._axes))

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}, device_mesh={self.device_mesh}>"


class DataParallel:
    """Data parallelism: each global batch split over the devices, weights whole on every device.

    Give either `device_mesh` (its first axis splits the batch; any other
    axes hold copies) or `devices` (a list such as ``["gpu:0", "gpu:1"]``);
    by default every device of `list_devices()`, in every process.

    With several processes, ``auto_shard_dataset=True`` (the default) means
    every process passes the whole data set to fit/evaluate/predict;
    ``False`` means each passes only its own shard, the rows
    `process_shard(num_samples)` of the whole, and holds no other: training
    then equals the single-process run on the whole data set.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None and devices is not None:
            raise ValueError("Give either device_mesh or devices to DataParallel, not both.")
        if not isinstance(auto_shard_dataset, bool):
            raise TypeError(f"DataParallel(auto_shard_dataset=...) must be True or False, got {auto_shard_dataset!r}.")
        self.auto_shard_dataset = auto_shard_dataset
        if device_mesh is None:
            devices = list_devices() if devices is None or len(devices) == 0 else list(devices)
            device_mesh = DeviceMesh((len(devices),), [DEFAULT_BATCH_DIM_NAME], devices)
        elif not isinstance(device_mesh, DeviceMesh):
            raise TypeError(f"device_mesh must be a scanfit.distribution.DeviceMesh, got {device_mesh!r}.")
        self._device_mesh = device_mesh
        mesh = device_mesh.backend_mesh
        self._batch_sharding = NamedSharding(mesh, PartitionSpec(self.batch_dim_name))
        self._replicated = NamedSharding(mesh, PartitionSpec())

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._device_mesh.axis_names[0]

    @property
    def num_processes(self):
        return jax.process_count()

    @property
    def num_model_replicas(self):
        """How many parts each global batch is split into."""
        return self._device_mesh.shape[0]

    def get_data_layout(self, data_shape):
        """Inputs are split along their first (batch) axis."""
        return TensorLayout((self.batch_dim_name,) + (None,) * (len(data_shape) - 1), self._device_mesh)

    def get_variable_layout(self, variable):
        """Weights are whole on every device."""
        return TensorLayout((None,) * len(variable.shape), self._device_mesh)

    @contextlib.contextmanager
    def scope(self):
        """Make this the current distribution inside a ``with`` block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<DataParallel device_mesh={self._device_mesh}>"


def distribution():
    """The current distribution, or None (one device)."""
    return _current


def set_distribution(value):
    """Make `value` (a `DataParallel`, or None for one device) the distribution that fit/evaluate/predict use."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution takes a scanfit.distribution.DataParallel or None, got {value!r}.")
    _current = value


# --- what the training engine asks ---------------------------------------------
def batch_sharding():
    """The current distribution's split of a batch over devices (a `NamedSharding`), or None."""
    return None if _current is None else _current._batch_sharding


def check_batch_size(batch_size, name="batch_size"):
    """`batch_size`, or a ValueError when the current distribution cannot split it evenly."""
    if _current is not None and batch_size % _current.num_model_replicas:
        replicas = _current.num_model_replicas
        raise ValueError(
            f"{name}={batch_size} cannot be split evenly over the {replicas} devices of {_current}: "
            f"with DataParallel, {name} is the global batch and must be a multiple of {replicas} "
            f"(e.g. {name}={max(replicas, batch_size // replicas * replicas)})."
        )
    return batch_size


def shards_data():
    """Whether each process passes only its shard of the data (`DataParallel(auto_shard_dataset=False)` over
    several processes)."""
    return _current is not None and not _current.auto_shard_dataset and jax.process_count() > 1


def process_shard(num_samples):
    """The rows of a data set of `num_samples` that this process holds under `auto_shard_dataset=False`: a
    `slice` of equal, consecutive parts in process order (all of them with one process).

    Raises:
        ValueError: `num_samples` does not divide evenly among the processes.
    """
    count, index = jax.process_count(), jax.process_index()
    if num_samples % count:
        raise ValueError(f"process_shard(num_samples={num_samples}): {num_samples} samples do not split evenly "
                         f"among {count} processes; drop {num_samples % count} of them.")
    size = num_samples // count
    return slice(index * size, (index + 1) * size)


def place_data(tree):
    """The data arrays of `tree` (NumPy) on the devices: whole on every one (`replicate`; on the one device
    without a distribution), or, when `shards_data()`, each process's rows on its own devices, as one global
    array split along the batch axis."""
    if not shards_data():  # device_put: a plain transfer (jnp.asarray would compile a copy program per shape)
        return replicate(tree) if _current is not None else jax.tree.map(jax.device_put, tree)
    sharding = _current._batch_sharding
    local_devices = sum(1 for device in sharding.mesh.devices.flat if device.process_index == jax.process_index())

    def place(leaf):
        if len(leaf) % local_devices:
            raise ValueError(f"This process's shard holds {len(leaf)} samples, which do not split evenly over its "
                             f"{local_devices} devices: give each process a multiple of {local_devices} samples.")
        return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))

    return jax.tree.map(place, tree)


def replicate(tree):
    """`tree` with its arrays placed whole on every device of the current distribution (as is without one).

    A global array split over processes (`place_data`) stays as it is: the programs read it where it is.
    """
    if _current is None:
        return tree
    replicated = _current._replicated

    def place(leaf):
        if isinstance(leaf, jax.Array) and (leaf.sharding == replicated or not leaf.is_fully_addressable):
            return leaf
        if isinstance(leaf, (jax.Array, np.ndarray)):
            return jax.device_put(leaf, replicated)
        return leaf

    return jax.tree.map(place, tree)
