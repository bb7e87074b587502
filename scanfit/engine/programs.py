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
"""
import jax
import jax.numpy as jnp
import optax


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


def split_values(values, mask):
    """Split per-layer weight dicts into (trainable, fixed) by a same-shaped bool mask."""
    trainable = [{k: v for k, v in d.items() if m[k]} for d, m in zip(values, mask)]
    fixed = [{k: v for k, v in d.items() if not m[k]} for d, m in zip(values, mask)]
    return trainable, fixed


def merge_values(trainable, fixed):
    return [{**t, **f} for t, f in zip(trainable, fixed)]


class Programs:
    """Pure, jitted train/eval/predict functions for one compiled model.

    `spec` carries what the programs need from the model: ``apply`` (the
    pure forward pass), ``loss_fn`` (per-sample loss), ``metrics`` (list of
    (per_sample_fn, weighted) pairs), ``transform`` (the optax optimizer),
    ``penalties`` (per-layer {name: regularizer}) and ``constraints``
    (per-layer {name: constraint}) for the trainable weights.
    """

    def __init__(self, apply, loss_fn, metrics, transform, penalties, constraints):
        self.apply = apply
        self.loss_fn = loss_fn
        self.metrics = metrics
        self.transform = transform
        self.penalties = penalties
        self.constraints = constraints
        self.train_epoch = jax.jit(self._train_epoch, static_argnames=("segments", "shuffle"))
        self.train_chunk = jax.jit(self._train_chunk, static_argnames=("segments",))
        self.permutation = jax.jit(self._permutation, static_argnames=("num_samples", "shuffle"))
        self.evaluate = jax.jit(self._evaluate, static_argnames=("segments",))

    # --- sums of loss and metrics ------------------------------------------
    def empty_sums(self):
        """(loss_total, sample_count, metric_totals, metric_weights) all zero."""
        m = len(self.metrics)
        return (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32),
                jnp.zeros((m,), jnp.float32), jnp.zeros((m,), jnp.float32))

    def _add_to_sums(self, sums, loss, y, y_pred, w):
        loss_total, count, totals, weights = sums
        batch = y_pred.shape[0]
        new_totals, new_weights = [], []
        for per_sample, weighted in self.metrics:
            values = per_sample(y, y_pred).reshape(batch, -1).mean(axis=1)
            sample_w = w if weighted else jnp.ones_like(w)
            new_totals.append(jnp.sum(values * sample_w))
            new_weights.append(jnp.sum(sample_w))
        if self.metrics:
            totals = totals + jnp.stack(new_totals)
            weights = weights + jnp.stack(new_weights)
        return loss_total + loss * batch, count + batch, totals, weights

    # --- one step --------------------------------------------------------------
    def _total_loss(self, values, x, y, w, training, rng):
        y_pred, updates, activity_loss = self.apply(values, x, training=training, rng=rng)
        per_sample = self.loss_fn(y, y_pred)
        per_sample = per_sample.reshape(per_sample.shape[0], -1) if per_sample.ndim else per_sample.reshape(1, 1)
        data_loss = jnp.sum(per_sample * w[:, None]) / per_sample.size
        penalty = jnp.zeros((), jnp.float32)
        for layer_values, layer_penalties in zip(values, self.penalties):
            for name, regularizer in layer_penalties.items():
                penalty = penalty + regularizer(layer_values[name])
        return data_loss + penalty + activity_loss, (y_pred, updates)

    def _train_step(self, carry, x, y, w):
        trainable, fixed, opt_state, rng, sums = carry
        rng, step_rng = jax.random.split(rng)

        def loss_of(params):
            return self._total_loss(merge_values(params, fixed), x, y, w, True, step_rng)

        (loss, (y_pred, updates)), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable)
        step, opt_state = self.transform.update(grads, opt_state, trainable)
        trainable = optax.apply_updates(trainable, step)
        trainable = [
            {k: (cons[k](v) if k in cons else v) for k, v in d.items()}
            for d, cons in zip(trainable, self.constraints)
        ]
        fixed = [{k: u.get(k, v) for k, v in d.items()} for d, u in zip(fixed, updates)]
        sums = self._add_to_sums(sums, loss, y, y_pred, w)
        return trainable, fixed, opt_state, rng, sums

    # --- runs of steps --------------------------------------------------------
    @staticmethod
    def _run_segments(step, carry, data, order, start, segments):
        """Run `step(carry, x, y, w)` over consecutive batches of `order` from `start`."""
        x_all, y_all, w_all = data
        offset = start
        for count, batch_size in segments:
            def body(carry, i, offset=offset, batch_size=batch_size):
                index = jax.lax.dynamic_slice(order, (offset + i * batch_size,), (batch_size,))
                batch = (jnp.take(x_all, index, axis=0), jnp.take(y_all, index, axis=0), jnp.take(w_all, index, axis=0))
                return step(carry, *batch), None

            carry, _ = jax.lax.scan(body, carry, jnp.arange(count))
            offset = offset + count * batch_size
        return carry

    def _permutation(self, key, num_samples, shuffle):
        if shuffle:
            return jax.random.permutation(jax.random.fold_in(key, 0), num_samples)
        return jnp.arange(num_samples)

    def _train_chunk(self, carry, data, order, start, segments):
        return self._run_segments(self._train_step, carry, data, order, start, segments)

    def _train_epoch(self, trainable, fixed, opt_state, data, key, segments, shuffle):
        """One whole epoch: shuffle, every batch, and the sums of loss and metrics."""
        order = self._permutation(key, data[0].shape[0], shuffle)
        carry = (trainable, fixed, opt_state, jax.random.fold_in(key, 1), self.empty_sums())
        return self._run_segments(self._train_step, carry, data, order, 0, segments)

    def _evaluate(self, values, data, segments):
        def step(sums, x, y, w):
            loss, (y_pred, _) = self._total_loss(values, x, y, w, False, None)
            return self._add_to_sums(sums, loss, y, y_pred, w)

        order = jnp.arange(data[0].shape[0])
        return self._run_segments(step, self.empty_sums(), data, order, 0, segments)


def predict_program(apply, values, x, segments):
    """Outputs of `apply` for every sample of `x`, batch by batch, in order."""
    outputs, offset = [], 0
    for count, batch_size in segments:
        batches = jax.lax.dynamic_slice_in_dim(x, offset, count * batch_size).reshape((count, batch_size) + x.shape[1:])

        def body(_, xb):
            return None, apply(values, xb, training=False, rng=None)[0]

        _, y = jax.lax.scan(body, None, batches)
        outputs.append(y.reshape((count * batch_size,) + y.shape[2:]))
        offset += count * batch_size
    return jnp.concatenate(outputs, axis=0) if len(outputs) > 1 else outputs[0]
