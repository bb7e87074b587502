"""The compiled programs: a whole epoch of training, evaluation, prediction.

`Programs` turns a compiled model into pure functions of arrays and `jit`s
them once. The data set, the parameters, the optimizer state (which holds
the learning rate) and the random key are arguments, never constants, so a
program compiles once per model and data shape and then serves every epoch.

A run of steps is described by static *segments*: ``((count, batch_size),
...)``. A whole epoch is ``((full_batches, batch_size), (1, remainder))``;
the same steps can also run as several chunks (for a live progress bar or
per-batch callbacks), each chunk a program of its own, starting at a sample
offset into the epoch's permutation. Each step gathers its batch with a
slice of the permutation and a `take`, so no shuffled copy of the data set
is ever made.

The training programs donate the weights, optimizer state and sums they are given (see
`compiling.Program`): the arrays passed in are deleted, and the caller keeps the ones returned.

Under a `scanfit.distribution` the programs take the distribution's batch
sharding as a static argument: each gathered batch is constrained to it, so
XLA's SPMD partitioner splits the batch over the devices and all-reduces
gradients and sums; everything the programs return is whole on every device.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scanfit import backend, mixed_precision, optimizers, threefry
from scanfit import seeding as scanfit_random
from scanfit.engine.compiling import Program
from scanfit.engine.state import TrainState
from scanfit.layers.execution import binding
from scanfit.losses import divide_no_nan


def epoch_segments(num_samples, batch_size):
    """Segments covering `num_samples` in batches, the last partial batch included."""
    full, tail = divmod(num_samples, batch_size)
    segments = []
    if full:
        segments.append((full, batch_size))
    if tail:
        segments.append((1, tail))
    return tuple(segments)


def chunk_plan(num_samples, batch_size, steps_per_chunk):
    """Split an epoch into chunks: a list of (start_sample, segments), the partial batch last."""
    full, tail = divmod(num_samples, batch_size)
    plan = [
        (step * batch_size, ((min(steps_per_chunk, full - step), batch_size),))
        for step in range(0, full, steps_per_chunk)
    ]
    if tail:
        plan.append((full * batch_size, ((1, tail),)))
    return plan


def epoch_seeds(key):
    """An epoch's shuffle seed and dropout key from its raw key: ``fold_in(key, 0)`` and ``fold_in(key, 1)``.

    Made on the host (scanfit.seeding.fold_in) and passed to the epoch program. Inside it, the two threefry
    hashes compiled to loops of their own: the seed MLP's epoch program took 0.42-0.47 s to compile with
    them and takes 0.39-0.41 s without.
    """
    return scanfit_random.fold_in(key, 0), scanfit_random.fold_in(key, 1)


def batch_key(epoch_key, first_sample):
    """The random key of the batch starting at sample `first_sample` of an epoch.

    It depends on nothing else, so an epoch run in chunks draws the keys of
    the whole-epoch run, and a model that draws no random numbers (no
    Dropout) computes no key at all: XLA drops the unused hash.
    """
    return threefry.fold_in(epoch_key, first_sample)


def shard_batch(batch, sharding):
    """Inside a program: split `batch` over `sharding`'s devices; a batch that does not divide is kept whole on each."""
    if sharding is None:
        return batch
    if jax.tree.leaves(batch)[0].shape[0] % sharding.mesh.shape[sharding.spec[0]]:
        return replicate_within(batch, sharding)
    return jax.lax.with_sharding_constraint(batch, sharding)


def replicate_within(tree, sharding):
    """Inside a program: `tree` whole on every device of `sharding`'s mesh (as is when `sharding` is None)."""
    if sharding is None:
        return tree
    whole = jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
    return jax.lax.with_sharding_constraint(tree, whole)


def split_values(values, mask):
    """Split per-layer weight dicts into (trainable, fixed) by a same-shaped bool mask."""
    trainable = [{k: v for k, v in d.items() if m[k]} for d, m in zip(values, mask)]
    fixed = [{k: v for k, v in d.items() if not m[k]} for d, m in zip(values, mask)]
    return trainable, fixed


def merge_values(trainable, fixed):
    return [{**t, **f} for t, f in zip(trainable, fixed)]


class Programs:
    """Pure, jitted train/eval/predict functions for one compiled model.

    What the programs need from the model: ``apply`` (the pure forward
    pass), ``losses`` (one ``(per_sample_fn, loss_weight, output)`` per
    output that has a loss), ``metrics`` (``(per_sample_fn, weighted,
    output)`` each), ``transform`` (the optax optimizer), ``penalties``
    (per-layer {name: regularizer}) and ``constraints`` (per-layer {name:
    constraint}) for the trainable weights. `output` indexes the model's
    outputs, or is None for a model of one output. With several losses the
    sums also hold each output's loss (before its weight), ahead of the
    metrics, as Keras logs ``<output>_loss``. ``pad_evaluation`` lets the
    evaluation program pad a short last batch (only for models whose output
    for a sample depends on that sample alone, without activity regularizers,
    whose penalty depends on the whole batch). ``stateful_metrics`` (``(Metric,
    weighted, output)`` each) carry their variables' values in the sums.
    ``held_metrics``, the metrics the model's layers hold (Keras's endpoint-layer
    pattern updates them inside ``call``), carry theirs there too, after those:
    the forward pass reads and updates them (see `forward`).
    ``carries_state`` (a model with stateful recurrent layers): evaluation
    carries the layers' states from batch to batch, as training does, and
    returns ``(sums, values)``, the values holding the states it ended with.
    """

    def __init__(self, apply, losses, metrics, transform, penalties, constraints, pad_evaluation=False,
                 stateful_metrics=(), carries_state=False, held_metrics=()):
        self.apply = apply
        self.pad_evaluation = pad_evaluation
        self.carries_state = carries_state
        self.losses = losses
        self.metrics = metrics
        self.stateful_metrics = list(stateful_metrics)
        self.held_metrics = list(held_metrics)
        self.transform = transform
        self.penalties = penalties
        self.constraints = constraints
        self.logged_losses = len(losses) if len(losses) > 1 else 0
        self.per_sample_by_shapes = {}  # can_pad's answers, by the shapes and dtypes of a sample
        batched = ("segments", "batch_sharding")
        # Training writes the new weights and optimizer state into the buffers of those it was given.
        self.train_epoch = Program(self._train_epoch, static_argnames=batched + ("shuffle",),
                                   donate_argnames=("trainable", "fixed", "opt_state"))
        self.train_chunk = Program(self._train_chunk, static_argnames=batched, donate_argnames=("carry",))
        self.permutation = Program(self.permutation_of, static_argnames=("num_samples", "shuffle", "batch_sharding"))
        self.evaluate = Program(self.evaluate_sums, static_argnames=batched)

    # --- sums of loss and metrics ------------------------------------------
    def empty_sums(self):
        """(loss_total, sample_count, metric_totals, metric_weights) all zero, and each stateful metric's
        starting state, then each held metric's."""
        m = self.logged_losses + len(self.metrics)  # NumPy zeros: eager jnp.zeros would compile a program
        # On the host, so that a training program consuming the sums leaves the metrics' own variables alone.
        metrics = [metric for metric, _, _ in self.stateful_metrics] + self.held_metrics
        states = tuple(jax.device_get(metric.state_values()) for metric in metrics)
        return (np.zeros((), np.float32), np.zeros((), np.float32), np.zeros((m,), np.float32),
                np.zeros((m,), np.float32), states)

    def add_to_sums(self, sums, loss, y, outcome, w, valid=None, penalty=0.0):
        """`sums` plus one batch: its total `loss`, targets `y`, and `outcome` (predictions, per-output losses).

        `valid` (evaluation only) marks the batch's real samples when it was padded to full size (the padding
        has weight 0): the sums are then those of the real samples alone, as if the batch had been that short;
        `penalty` is the weight penalty included in `loss`, which counts once per real sample.
        """
        y_pred, output_losses, masks, held_states = outcome
        loss_total, count, totals, weights, states = sums
        batch = w.shape[0]
        real = batch if valid is None else jnp.sum(valid.astype(jnp.float32))
        new_totals, new_weights = [], []
        if self.logged_losses:
            new_totals += [value * batch for value in output_losses]  # the padding adds nothing to these sums
            new_weights += [jnp.asarray(real, jnp.float32)] * len(output_losses)
        for per_sample, weighted, output in self.metrics:
            values = per_sample(pick(y, output), pick(y_pred, output))
            if values.ndim == 0:  # one value for the whole batch: each batch counts once, as in Keras's Mean
                if weighted:
                    raise ValueError("A weighted metric gives one value per batch, which sample weights cannot "
                                     "weigh: make its function return one value per sample, or list it in "
                                     "`metrics` instead of `weighted_metrics`.")
                new_totals.append(values)
                new_weights.append(jnp.ones((), jnp.float32))
                continue
            values = values.reshape(batch, -1)
            sample_w = w if weighted else (jnp.ones_like(w) if valid is None else valid.astype(w.dtype))
            mask = step_mask(masks, output, values)
            if mask is None and sample_w.ndim == 1:
                new_totals.append(jnp.sum(values.mean(axis=1) * sample_w))
                new_weights.append(jnp.sum(sample_w))
            else:  # a mean over the kept (weighted) steps, as Keras weighs a metric by the output's mask
                step_w = jnp.broadcast_to(per_value_weights(sample_w, values), values.shape)
                step_w = step_w if mask is None else step_w * mask
                new_totals.append(jnp.sum(values * step_w))
                new_weights.append(jnp.sum(step_w))
        if new_totals:
            totals = totals + jnp.stack(new_totals)
            weights = weights + jnp.stack(new_weights)
        states = tuple(
            metric.updated_state(state, pick(y, output), pick(y_pred, output),
                                 masked_weights(masks[output or 0], w if weighted else None))
            for (metric, weighted, output), state in zip(self.stateful_metrics, states)) + held_states
        return loss_total + loss * batch - penalty * (batch - real), count + real, totals, weights, states

    # --- one step --------------------------------------------------------------
    def held_states(self, sums):
        """The held metrics' states in `sums`."""
        return sums[4][len(self.stateful_metrics):]

    def total_loss(self, values, x, y, w, training, rng, held_states=()):
        """The batch's loss (weighted per-output losses, weight penalties and activity penalties) and
        ``(outcome, state_updates)``, where outcome is ``(y_pred, per-output losses, output masks, the held
        metrics' states after the forward pass from `held_states`)``.

        An output that carries a mask (a masked sequence model's per-step output) has its loss averaged over
        the kept steps, as Keras 3 weighs it: each kept step by ``steps / kept``, the others by 0."""
        (y_pred, updates, extra_loss, masks, unreduced), held_states = self.unreduced_losses(
            values, x, y, training, rng, held_states)
        output_losses = []
        data_loss = jnp.zeros((), jnp.float32)
        for (_, loss_weight, output, reduction), per_sample in zip(self.losses, unreduced):
            if per_sample.ndim == 0:  # a loss of the whole batch: Keras weighs it by the mean sample weight
                mask = masks[output or 0]
                per_sample = jnp.broadcast_to(per_sample, (w.shape[0], 1) if mask is None else
                                              (w.shape[0], mask.size // w.shape[0]))
            per_sample = per_sample.reshape(per_sample.shape[0], -1)
            mask = step_mask(masks, output, per_sample)
            value = reduce_loss(per_sample, w, mask, reduction)
            output_losses.append(value)
            data_loss = data_loss + value * loss_weight
        outcome = (y_pred, tuple(output_losses), masks, held_states)
        return data_loss + self.weight_penalty(values) + extra_loss, (outcome, updates)

    def unreduced_losses(self, values, x, y, training, rng, held_states=()):
        """The forward pass (``y_pred, updates, extra_loss, masks``) and each loss's values before any
        reduction: one per sample or step, or one for the whole batch (a scalar); and the held metrics' states
        after the pass."""
        (y_pred, updates, extra_loss, masks), held_states = self.forward(values, x, training, rng, held_states)
        y_pred = mixed_precision.to_float32(y_pred)  # losses and metrics compute in float32, as in Keras
        unreduced = [loss_fn(pick(y, output), pick(y_pred, output)) for loss_fn, _, output, _ in self.losses]
        return (y_pred, updates, extra_loss, masks, unreduced), held_states

    def forward(self, values, x, training, rng, held_states):
        """`apply`'s result, and the held metrics' states after it: a layer's ``update_state`` inside its call()
        reads and updates `held_states` (one tuple of values per held metric) instead of the metric's variables."""
        if not self.held_metrics:
            return self.apply(values, float_inputs(x), training=training, rng=rng), ()
        variables = [v for metric in self.held_metrics for v in metric.variables]
        given = [value for state in held_states for value in state]
        with binding({id(v): value for v, value in zip(variables, given)}) as bound:
            result = self.apply(values, float_inputs(x), training=training, rng=rng)
        return result, tuple(tuple(bound[id(v)] for v in metric.variables) for metric in self.held_metrics)

    def can_pad(self, values, data):
        """Whether evaluation may pad a short batch of `data` (``(x, y, w)`` arrays) with weight-0 samples: the
        model allows it (`pad_evaluation`) and every loss and metric gives one value per sample (or step), so
        that the padding leaves them unchanged. A loss or metric of the whole batch, such as ``Dice()``, gives
        one value; this is found from shapes alone, once per sample shape."""
        if not self.pad_evaluation:
            return False
        specs = jax.tree.map(lambda array: jax.ShapeDtypeStruct((2,) + tuple(array.shape[1:]), array.dtype),
                             (data[0], data[1]))
        key = tuple((spec.shape, spec.dtype) for spec in jax.tree.leaves(specs))
        if key not in self.per_sample_by_shapes:
            def unreduced(x, y):
                (y_pred, _, _, _, losses), _ = self.unreduced_losses(values, x, y, False, None)
                return losses + [fn(pick(y, output), pick(y_pred, output)) for fn, _, output in self.metrics]

            self.per_sample_by_shapes[key] = all(shape.ndim > 0 for shape in jax.eval_shape(unreduced, *specs))
        return self.per_sample_by_shapes[key]

    def weight_penalty(self, values):
        """The weight regularizers' penalty for the per-layer weight `values`."""
        penalty = jnp.zeros((), jnp.float32)
        for layer_values, layer_penalties in zip(values, self.penalties):
            for name, regularizer in layer_penalties.items():
                penalty = penalty + regularizer(layer_values[name])
        return penalty

    def train_step(self, carry, x, y, w, first_sample):
        """One batch: gradients, the optimizer update, constraints, and the batch added to the sums."""
        loss, outcome, grads, fixed = self.gradients(carry.trainable, carry.fixed, x, y, w,
                                                     batch_key(carry.rng, first_sample),
                                                     optimizers.loss_scale_of(carry.opt_state),
                                                     self.held_states(carry.sums))
        trainable, opt_state = self.descend(carry.trainable, grads, carry.opt_state)
        return TrainState(self.constrain(trainable), fixed, opt_state, carry.rng,
                          self.add_to_sums(carry.sums, loss, y, outcome, w))

    def gradients(self, trainable, fixed, x, y, w, rng, loss_scale=1.0, held_states=()):
        """Loss, outcome (predictions, per-output losses, held metrics' states) and gradients of one training
        batch, and the updated non-trainable state. The gradients are those of ``loss * loss_scale`` (see
        `optimizers.LossScaleOptimizer`)."""
        def loss_of(params):
            loss, aux = self.total_loss(merge_values(params, fixed), x, y, w, True, rng, held_states)
            return loss * loss_scale, (loss, aux)

        (_, (loss, (outcome, updates))), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable)
        fixed = with_updates(fixed, updates)
        return loss, outcome, grads, fixed

    def descend(self, trainable, grads, opt_state):
        """One optimizer update of the trainable weights."""
        step, opt_state = self.transform.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, step), opt_state

    def constrain(self, trainable):
        return [
            {k: (cons[k](v) if k in cons else v) for k, v in d.items()}
            for d, cons in zip(trainable, self.constraints)
        ]

    # --- runs of steps --------------------------------------------------------
    @staticmethod
    def run_segments(step, carry, data, order, start, segments, batch_sharding, epoch_offset=0):
        """Run `step(carry, x, y, w, first_sample)` over consecutive batches of `order` from `start`, split by
        `batch_sharding`; `first_sample` is where the batch starts in the epoch: its place in `order` plus
        `epoch_offset` (the samples of the epoch that came before `data`, when an epoch comes in pieces).

        `order` is (samples,), or (runs, samples) to give each of several runs
        its own order; the batches are then stacked, (runs, batch_size, ...).
        """
        offset = start
        for count, batch_size in segments:
            def body(carry, i, offset=offset, batch_size=batch_size):
                first_sample = offset + i * batch_size
                index = jax.lax.dynamic_slice_in_dim(order, first_sample, batch_size, axis=-1)
                batch = jax.tree.map(lambda array: jnp.take(array, index, axis=0), data)
                return step(carry, *shard_batch(batch, batch_sharding), epoch_offset + first_sample), None

            carry, _ = jax.lax.scan(body, carry, jnp.arange(count))
            offset = offset + count * batch_size
        return replicate_within(carry, batch_sharding)

    def permutation_of(self, seed, num_samples, shuffle, batch_sharding):
        """The epoch's order of the samples, from `seed` (``fold_in(epoch key, 0)``, see `epoch_seeds`)."""
        if shuffle:
            # The samples sorted by a keyed hash of their index. The hash is a bijection of 32-bit integers, so
            # there are no ties; it compiles to one small elementwise kernel (jax.random.bits' threefry rounds
            # for every sample took about 0.1 s of each epoch program's compile) and gives the same order
            # under vmap (a Sweep) as alone. The hashes are sorted alone and inverted back into indices: XLA:CPU
            # sorts 48,000 keys in 1.4 ms, keys with their indices (an argsort) in 8 ms.
            index = jnp.arange(num_samples, dtype=jnp.uint32)
            hashes = jnp.sort(_mix32(_mix32(index ^ seed[0]) + seed[1]))
            order = (_unmix32(_unmix32(hashes) - seed[1]) ^ seed[0]).astype(jnp.int32)
        else:
            order = jnp.arange(num_samples)
        return replicate_within(order, batch_sharding)

    def _train_chunk(self, carry, data, order, start, segments, batch_sharding, epoch_offset=0):
        return self.run_segments(self.train_step, carry, data, order, start, segments, batch_sharding,
                                 epoch_offset)

    def _train_epoch(self, trainable, fixed, opt_state, data, seeds, segments, shuffle, batch_sharding):
        """One whole epoch: shuffle, every batch, and the sums of loss and metrics. `seeds` is
        `epoch_seeds(key)` of the epoch's key."""
        shuffle_seed, rng = seeds
        order = self.permutation_of(shuffle_seed, num_samples(data), shuffle, batch_sharding)
        carry = TrainState(trainable, fixed, opt_state, rng, self.empty_sums())
        return self.run_segments(self.train_step, carry, data, order, 0, segments, batch_sharding)

    def evaluate_sums(self, values, data, segments, batch_sharding, real_samples=None, rng=None, start=None):
        """The sums of loss and metrics over `data`. Without activity regularizers (which see whole batches),
        a short last batch is padded to a full one with copies of the last sample at weight 0, so the forward
        pass compiles once (about 40% less compile time); the sums are those of the real samples.

        `real_samples` (an argument, not a constant) says that `data` was padded already, at weight 0, and
        that only its first `real_samples` samples are real; one program then serves any number of them.
        `rng`, when given, is the key for layers run with training=True (see `Model.draws_at_inference`);
        `start`, when given, holds the sums of the batches before `data` (else `empty_sums()`).
        """
        total = num_samples(data) if real_samples is None else real_samples
        padded = real_samples is not None or (has_short_last_batch(segments) and self.can_pad(values, data))
        if padded and real_samples is None:
            data, segments = pad_short_last_batch(data, segments, mode="edge")
            data = data[:2] + (data[2].at[total:].set(0.0),) + data[3:]

        def step(carry, x, y, w, first_sample):
            sums, values_now = carry if self.carries_state else (carry, values)
            key = None if rng is None else batch_key(rng, first_sample)
            loss, (outcome, updates) = self.total_loss(values_now, x, y, w, False, key, self.held_states(sums))
            if padded:
                valid = first_sample + jnp.arange(w.shape[0]) < total
                sums = self.add_to_sums(sums, loss, y, outcome, w, valid, self.weight_penalty(values_now))
            else:
                sums = self.add_to_sums(sums, loss, y, outcome, w)
            return (sums, with_updates(values_now, updates)) if self.carries_state else sums

        order = jnp.arange(num_samples(data))
        start = self.empty_sums() if start is None else start
        return self.run_segments(step, (start, values) if self.carries_state else start, data, order, 0, segments,
                                 batch_sharding)


def make_predict_program(apply, pad_last_batch, carries_state=False):
    """`predict_program` of the forward pass `apply`, jitted (and called under the current distribution)."""
    return Program(functools.partial(predict_program, apply, pad_last_batch=pad_last_batch,
                                     carries_state=carries_state),
                   static_argnames=("segments", "batch_sharding"))


def predict_program(apply, values, x, segments, batch_sharding, pad_last_batch=False, rng=None, carries_state=False):
    """Outputs of `apply` for every sample of `x` (an array or a tuple of them), batch by batch (each split by
    `batch_sharding`), in order; a tuple of arrays for a model of several outputs. `rng`, when given, is the
    key for layers run with training=True (see `Model.draws_at_inference`).

    With `pad_last_batch` (for a model whose output for a sample depends on that sample alone), a short last
    batch is padded to a full one, so the forward pass is compiled once, not twice (about 40% less compile time).
    With `carries_state` (stateful recurrent layers) each batch starts from the states the one before left, and
    the result is ``(outputs, values)``, the values holding the last states.
    """
    num_samples = sum(count * size for count, size in segments)
    if pad_last_batch and has_short_last_batch(segments):
        x, segments = pad_short_last_batch(x, segments)
    outputs, offset, carried = [], 0, values if carries_state else None
    for count, batch_size in segments:
        batches = jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, offset, count * batch_size).reshape(
            (count, batch_size) + a.shape[1:]), x)

        def body(carried, batch, offset=offset, batch_size=batch_size):
            index, xb = batch
            xb = jax.tree.map(lambda a: shard_batch((a,), batch_sharding)[0], xb)
            key = None if rng is None else batch_key(rng, offset + index * batch_size)
            current = carried if carries_state else values
            y, updates = apply(current, float_inputs(xb), training=False, rng=key)[:2]
            return (with_updates(current, updates) if carries_state else None), y

        indices = None if rng is None else jnp.arange(count)
        carried, y = jax.lax.scan(body, carried, (indices, batches))
        outputs.append(jax.tree.map(lambda a: a.reshape((count * batch_size,) + a.shape[2:]), y))
        offset += count * batch_size
    joined = outputs[0] if len(outputs) == 1 else jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=0), *outputs)
    outputs = jax.tree.map(lambda a: a[:num_samples], joined)
    return replicate_within((outputs, carried) if carries_state else outputs, batch_sharding)


def with_updates(values, updates):
    """Per-layer `values` with the new values a forward pass gave for some of them (`updates`, one dict per layer)."""
    return [{name: changed.get(name, value) for name, value in layer.items()} for layer, changed in zip(values, updates)]


def reduce_loss(per_sample, w, mask, reduction):
    """One batch's loss from its (batch, -1) values, sample weights `w` and output mask (or None), reduced as
    Keras 3 reduces a loss of that `reduction`: "sum_over_batch_size" ("mean") averages over the values (over the
    kept steps, with a mask), "sum" sums, "mean_with_sample_weight" divides the sum by the weights' sum."""
    weights = per_value_weights(w, per_sample)
    weighted = per_sample * weights if mask is None else per_sample * weights * mask
    if reduction == "sum":
        return jnp.sum(weighted)
    if reduction == "mean_with_sample_weight":  # a batch whose weights are all 0 gives 0, as in Keras
        if mask is None and w.ndim == 1:
            return divide_no_nan(jnp.sum(weighted), jnp.sum(w))
        return divide_no_nan(jnp.sum(weighted), jnp.sum(jnp.broadcast_to(weights, per_sample.shape)
                                                        * (1.0 if mask is None else mask)))
    if mask is None:
        return jnp.sum(weighted) / per_sample.size
    return jnp.sum(weighted) / (jnp.sum(mask) + backend.epsilon())


def per_value_weights(w, values):
    """Sample weights `w` as weights of the (batch, -1) `values`: one per sample (``(batch,)``), or one per value
    (``(batch, steps, ...)``: Keras's temporal sample weights, Deep Learning with Python's ``labels != 0``)."""
    if w.ndim == 1:
        return w[:, None]
    w = w.reshape(w.shape[0], -1)
    if w.shape[1] != values.shape[1]:
        raise ValueError(f"sample_weight has {w.shape[1]} weights per sample, but a loss or metric gives "
                         f"{values.shape[1]} values per sample: give one weight per sample, or one per value "
                         "(per time step of a sequence output).")
    return w


def step_mask(masks, output, values):
    """The mask of output `output` (None for a model of one output) as float32 weights shaped like the
    (batch, -1) `values`, or None when the output has no mask or it does not match the values' steps."""
    mask = masks[output or 0]
    if mask is None or mask.size != values.size:
        return None
    return mask.reshape(values.shape).astype(jnp.float32)


def masked_weights(mask, sample_weight):
    """A stateful metric's sample weights: the output's mask (as Keras passes it), times the sample weights."""
    if mask is None:
        return sample_weight
    mask = mask.astype(jnp.float32)
    if sample_weight is None:
        return mask
    return mask * sample_weight.reshape(sample_weight.shape + (1,) * (mask.ndim - sample_weight.ndim))


def has_short_last_batch(segments):
    """Whether `segments` are full batches followed by one shorter batch."""
    return len(segments) == 2 and segments[1][0] == 1 and segments[1][1] < segments[0][1]


def pad_short_last_batch(tree, segments, mode="constant"):
    """Inside a program: the arrays of `tree` padded (`jnp.pad`'s `mode`) so that the short last batch of
    `segments` is a full one, and the segments of the padded arrays."""
    (count, batch_size), (_, tail) = segments
    tree = jax.tree.map(lambda a: jnp.pad(a, [(0, batch_size - tail)] + [(0, 0)] * (a.ndim - 1), mode=mode), tree)
    return tree, ((count + 1, batch_size),)


def _mix32(h):
    """MurmurHash3's 32-bit finalizer: a bijection of uint32 that mixes every input bit into every output bit."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _unmix32(h):
    """The inverse of `_mix32`: each step undone in reverse order (the multipliers' inverses modulo 2**32)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(pow(0xC2B2AE35, -1, 1 << 32))
    h = h ^ (h >> 13) ^ (h >> 26)
    h = h * jnp.uint32(pow(0x85EBCA6B, -1, 1 << 32))
    return h ^ (h >> 16)


def float_inputs(x):
    """Inside a program: a batch of inputs as float32 (the data set stays compact on the device: uint8, ints, bools)."""
    return jax.tree.map(lambda a: a if a.dtype == jnp.float32 else a.astype(jnp.float32), x)


def pick(values, output):
    """Output `output` of a tuple of outputs; the value itself for a model of one output (output None)."""
    return values if output is None else values[output]


def num_samples(data):
    """The number of samples in `data` (a tuple of arrays or of nested tuples of arrays)."""
    return jax.tree.leaves(data)[0].shape[0]
