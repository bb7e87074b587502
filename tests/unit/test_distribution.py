"""keras.distribution: the API, and data-parallel training equal to one device on 2 devices and 2 processes.

The multi-device runs are subprocesses (tests/unit/distributed_worker.py):
one process with 2 simulated CPU devices, and 2 processes joined by
`scanfit.distribution.initialize` on 127.0.0.1. They all start at once; this
process meanwhile trains the single-device reference.
"""
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import scanfit
from scanfit import distribution

WORKER = Path(__file__).with_name("distributed_worker.py")
DEADLINE_SECONDS = 300


def _load_worker():
    spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def no_distribution():
    yield
    distribution.set_distribution(None)


# --- the API -------------------------------------------------------------------------
def test_devices_are_listed_as_type_and_id():
    assert distribution.list_devices() == [f"{d.platform}:{d.id}" for d in jax.devices()]
    assert distribution.list_devices("CPU") == [f"cpu:{d.id}" for d in jax.devices("cpu")]
    assert distribution.get_device_count() == jax.device_count()


def test_data_parallel_defaults_to_every_device_and_splits_only_the_batch():
    dist = distribution.DataParallel()
    assert dist.device_mesh.shape == (jax.device_count(),)
    assert dist.device_mesh.axis_names == ("batch",)
    assert dist.batch_dim_name == "batch" and dist.num_model_replicas == jax.device_count()
    assert dist.get_data_layout((32, 28, 28)).axes == ("batch", None, None)
    assert dist.get_variable_layout(np.zeros((3, 4))).axes == (None, None)
    layout = distribution.TensorLayout(("batch", None), dist.device_mesh)
    assert layout.backend_layout == jax.sharding.NamedSharding(dist.device_mesh.backend_mesh,
                                                               jax.sharding.PartitionSpec("batch", None))
    mesh = distribution.DeviceMesh((1,), ["data"], devices=["cpu:0"])
    assert distribution.DataParallel(device_mesh=mesh).batch_dim_name == "data"
    assert distribution.DataParallel(devices=["cpu:0"]).device_mesh.devices.tolist() == ["cpu:0"]


def test_bad_meshes_layouts_and_devices_are_refused_clearly():
    with pytest.raises(ValueError, match="same length"):
        distribution.DeviceMesh((1,), ["a", "b"])
    with pytest.raises(ValueError, match="needs 4 devices; got 1"):
        distribution.DeviceMesh((4,), ["batch"], devices=["cpu:0"])
    mesh = distribution.DeviceMesh((1,), ["batch"], devices=["cpu:0"])
    with pytest.raises(ValueError, match="not axes of"):
        distribution.TensorLayout(("model",), mesh)
    with pytest.raises(ValueError, match="no device mesh"):
        distribution.TensorLayout(("batch",)).backend_layout
    with pytest.raises(ValueError, match="Device not found: 'cpu:99'"):
        distribution.DataParallel(devices=["cpu:99"])
    with pytest.raises(ValueError, match="not both"):
        distribution.DataParallel(device_mesh=mesh, devices=["cpu:0"])
    with pytest.raises(TypeError, match="DataParallel or None"):
        distribution.set_distribution("batch")


def test_set_distribution_and_scope():
    assert distribution.distribution() is None and distribution.batch_sharding() is None
    dist = distribution.DataParallel()
    with dist.scope():
        assert distribution.distribution() is dist
        assert distribution.batch_sharding() == jax.sharding.NamedSharding(dist.device_mesh.backend_mesh,
                                                                          jax.sharding.PartitionSpec("batch"))
    assert distribution.distribution() is None
    distribution.set_distribution(dist)
    assert scanfit.distribution.distribution() is dist


def test_a_single_process_is_the_chief():
    assert distribution.is_chief()
    assert (distribution.process_index(), distribution.process_count()) == (0, 1)


def test_initialize_takes_process_0_from_the_job_addresses(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(scanfit.seeding, "_seed", 1234)  # a seed is set: no agreement needed
    distribution.initialize("10.0.0.1:1234,10.0.0.2:2345", 2, 1)
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "10.0.0.9:99")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "4")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    distribution.initialize()
    assert calls == [dict(coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1),
                     dict(coordinator_address="10.0.0.9:99", num_processes=4, process_id=3)]
    with pytest.raises(ValueError, match="lists 2 jobs"):
        distribution.initialize("10.0.0.1:1234,10.0.0.2:2345", 3, 0)


def test_initialize_agrees_on_a_seed_when_none_is_set(monkeypatch):
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: None)
    monkeypatch.setattr(scanfit.seeding, "_seed", None)
    monkeypatch.setattr(scanfit.seeding, "_counter", 0)
    distribution.initialize("127.0.0.1:1", 1, 0)
    assert scanfit.seeding._seed is not None


# --- training on several devices and processes --------------------------------------
def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(out_dir, devices_per_process, *coordinates):
    out_dir.mkdir()
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}")
    log = open(out_dir / "log.txt", "w")
    process = subprocess.Popen([sys.executable, str(WORKER), str(out_dir), *map(str, coordinates)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return process


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the 2-device run and the 2-process run, train the reference here, wait for all (bounded)."""
    root = tmp_path_factory.mktemp("distributed")
    address = f"127.0.0.1:{_free_port()}"
    jobs = {
        "two_devices": _start(root / "two_devices", 2),
        "process_0": _start(root / "process_0", 1, address, 2, 0),
        "process_1": _start(root / "process_1", 1, address, 2, 1),
    }
    sharded_address = f"127.0.0.1:{_free_port()}"
    jobs.update({f"sharded_{i}": _start(root / f"sharded_{i}", 1, sharded_address, 2, i, "sharded") for i in (0, 1)})
    started = time.perf_counter()
    try:
        (root / "reference").mkdir()
        worker = _load_worker()
        reference = worker.train_and_record(scanfit, str(root / "reference"))
        (root / "sharded_reference").mkdir()
        reference["sharded"] = worker.train_and_record(scanfit, str(root / "sharded_reference"),
                                                       worker.sharded_data(scanfit, slice(None)), with_source=False)
        reference_seconds = time.perf_counter() - started
        for process in jobs.values():
            process.wait(timeout=max(1.0, DEADLINE_SECONDS - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        pass  # the runs still going are killed below and reported by the tests that need them
    finally:
        for process in jobs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    print(f"\nreference {reference_seconds:.1f} s, all runs {time.perf_counter() - started:.1f} s")
    return root, reference, {name: process.returncode for name, process in jobs.items()}


def _results(runs, name):
    """What run `name` stored, or a failure showing its log."""
    root, _, exit_codes = runs
    if exit_codes[name] != 0:
        log = (root / name / "log.txt").read_text()
        pytest.fail(f"{name} exited with {exit_codes[name]} (negative: killed after {DEADLINE_SECONDS} s):\n"
                    f"{log[-3000:]}")
    with np.load(root / name / "results.npz") as stored:
        return {key: stored[key] for key in stored.files}


def _assert_same_training(got, reference):
    for key, expected in reference.items():
        if key == "sharded":
            continue
        np.testing.assert_allclose(got[key], expected, rtol=1e-5, atol=1e-6, err_msg=key)


def test_two_devices_train_like_one(runs):
    """Same global batches on 2 devices: same weights, history, per-batch logs, evaluation and predictions,
    also when the batches come from a PyDataset."""
    root, reference, _ = runs
    got = _results(runs, "two_devices")
    assert got["devices"].tolist() == ["cpu:0", "cpu:1"]
    _assert_same_training(got, reference)
    assert (root / "two_devices" / "checkpoint.weights.h5").exists()


def test_a_batch_size_the_devices_cannot_split_fails_before_compiling(runs):
    for name in ("two_devices", "process_0"):
        results = _results(runs, name)
        message = str(results["batch_size_error"])
        assert "batch_size=33" in message and "2 devices" in message and "multiple of 2" in message
        assert not results["compiled_before_error"]


def test_two_processes_train_like_one_and_only_process_0_writes(runs):
    root, reference, _ = runs
    first, second = _results(runs, "process_0"), _results(runs, "process_1")
    assert first["devices"].tolist() == second["devices"].tolist() and len(first["devices"]) == 2
    assert (int(first["process_index"]), int(second["process_index"])) == (0, 1)
    assert int(first["agreed_seed"]) == int(second["agreed_seed"]) != -1
    for key in reference:
        if key != "sharded":
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    _assert_same_training(first, reference)
    assert (root / "process_0" / "checkpoint.weights.h5").exists()
    assert not (root / "process_1" / "checkpoint.weights.h5").exists()


def test_two_processes_holding_one_shard_each_train_like_one_process_on_all(runs):
    """DataParallel(auto_shard_dataset=False): each process is given only its half of the data, and training,
    evaluation and each process's predictions equal the single-process run on the whole data set."""
    _, reference, _ = runs
    expected = reference["sharded"]
    shards = [_results(runs, f"sharded_{i}") for i in (0, 1)]
    for index, got in enumerate(shards):
        assert int(got["process_index"]) == index
        for key, value in expected.items():
            if key == "predict":  # each process predicts its own 20 of the 40 validation samples
                value = value[index * 20:(index + 1) * 20]
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_process_shard_and_auto_shard_dataset_are_checked():
    assert scanfit.distribution.process_shard(10) == slice(0, 10)  # one process holds every row
    with pytest.raises(TypeError, match="auto_shard_dataset"):
        scanfit.distribution.DataParallel(auto_shard_dataset="no")
    assert scanfit.distribution.DataParallel(auto_shard_dataset=False).auto_shard_dataset is False
    assert not scanfit.distribution.shards_data()  # no distribution set, and one process
