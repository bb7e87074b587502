"""Many training runs in one compiled program: a sweep's epoch, the runs stacked on a leading axis.

Runs whose models trace to the same training step (same layers and
settings, loss, metrics, trainable weights) form a *group*: their weights,
random keys and metric sums are stacked, and one `vmap`ped forward and
backward pass serves them all, so each run's small matmuls become one
batched matmul. Inside a group, runs whose optimizers trace to the same
update (the same optax transform up to its array state, which holds the
learning rate) form an *optimizer subgroup* with a stacked optimizer state
and a vmapped update of its own. Runs are stacked group by group, subgroup
by subgroup; every group takes its step for every batch inside the same
`lax.scan`, each run with its own shuffled order and dropout keys, so a
sweep's epoch is one program whatever its mix of models and optimizers.

The per-run pieces are the engine's own (`Programs.gradients`,
`descend`, `constrain`, `add_to_sums`, `permutation_of`, `evaluate_sums`), so a
stacked run computes what `Model.fit` computes for that run alone.
"""
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scanfit.engine.compiling import jit_long
from scanfit.engine.programs import Programs, batch_key, epoch_segments, merge_values
from scanfit.engine.state import TrainState


class Group(NamedTuple):
    """Runs sharing one training step: the architecture's programs and, per optimizer subgroup, its
    programs (whose optimizer update it uses) and number of runs."""

    programs: Programs
    updaters: tuple
    sizes: tuple

    @property
    def size(self):
        return sum(self.sizes)


def step_signature(programs, trainable, fixed, rng, batch_spec):
    """A hashable fingerprint of one run's training step apart from its optimizer (see `signature`)."""
    def step(trainable, fixed, rng, x, y, w, sums):
        held = programs.held_states(sums)  # (the metrics a layer's call() updates)
        loss, outcome, grads, new_fixed = programs.gradients(trainable, fixed, x, y, w, rng, held_states=held)
        test_loss, _ = programs.total_loss(merge_values(trainable, fixed), x, y, w, False, None, held)
        return grads, new_fixed, programs.constrain(trainable), programs.add_to_sums(sums, loss, y, outcome, w), test_loss

    return signature(step, trainable, fixed, rng, *batch_spec, programs.empty_sums())


def update_signature(programs, trainable, opt_state):
    """A hashable fingerprint of one run's optimizer update (the learning rate, being state, is not part of it)."""
    return signature(programs.descend, trainable, trainable, opt_state)


def signature(function, *args):
    """The jaxpr of `function` traced on the shapes of `args`, with its constants' values and the arguments' structure.

    Two functions with the same signature compute the same thing from
    same-shaped arguments, so their runs can share one vmapped program.
    """
    specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), args)
    closed = jax.make_jaxpr(function)(*specs)
    text = re.sub(r"0x[0-9a-f]+", "", str(closed.jaxpr))  # object addresses, should a repr leak in
    consts = tuple((np.shape(c), str(np.result_type(c)), np.asarray(c).tobytes()) for c in closed.consts)
    return text, consts, str(jax.tree.structure(args))


def host_stack(trees):
    """Stack same-shaped trees of arrays on the host (no compiled program): one device array per leaf."""
    return jax.device_put(jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *trees))


def part(tree, lo, hi):
    return jax.tree.map(lambda a: a[lo:hi], tree)


class StackedPrograms:
    """Jitted programs for runs stacked in `groups` (a list of `Group`), in that order.

    A group's *state* is ``(trainable, fixed, opt_states)``, each stacked
    over the group's runs, ``opt_states`` a tuple with one stacked state per
    optimizer subgroup; its *carry* adds the runs' dropout keys and running
    sums. Runs whose `active` flag is False keep their state: they are
    computed along (vmap) but their results are dropped. Stacking and
    unstacking happen on the host, so no program is compiled for them.
    """

    def __init__(self, groups):
        self.groups = tuple(groups)
        # Training consumes the states and carries it is given: XLA writes the new ones into their buffers.
        self.train_epoch = jit_long(self._train_epoch, static_argnames=("segments", "shuffle"), donate_argnames="states")
        self.begin_chunks = jit_long(self._begin, static_argnames=("num_samples", "shuffle"), donate_argnames="states")
        self.train_chunk = jit_long(self._train_chunk, static_argnames=("segments",), donate_argnames="carries")
        self.evaluate = jit_long(self._evaluate, static_argnames=("segments",))

    def _bounds(self):
        lo = 0
        for group in self.groups:
            yield group, lo, lo + group.size
            lo += group.size

    # --- between the host and the programs ------------------------------------------------
    def stack(self, runs):
        """Every run's ``(trainable, fixed, opt_state)``, in stacked order, as the group states."""
        states = []
        for group, lo, hi in self._bounds():
            members, opt_states, first = runs[lo:hi], [], 0
            for size in group.sizes:
                opt_states.append(host_stack([run[2] for run in members[first:first + size]]))
                first += size
            states.append((host_stack([run[0] for run in members]), host_stack([run[1] for run in members]),
                           tuple(opt_states)))
        return tuple(states)

    def unstack(self, states, wanted):
        """``{position: (trainable, fixed, opt_state)}`` for the stacked positions in `wanted`, from the groups'
        ``(trainable, fixed, opt_state)`` states."""
        host = jax.device_get(list(states))
        runs, position = {}, 0
        for group, (trainable, fixed, opt_states) in zip(self.groups, host):
            lo = 0
            for size, state in zip(group.sizes, opt_states):
                for i in range(size):
                    if position in wanted:
                        take = lambda tree, j: jax.tree.map(lambda a: a[j], tree)
                        runs[position] = (take(trainable, lo + i), take(fixed, lo + i), take(state, i))
                    position += 1
                lo += size
        return jax.device_put(runs)

    def sums(self, carries):
        """Every run's sums of loss and metrics (host arrays), in stacked order."""
        return self._per_run(jax.device_get([carry.sums for carry in carries]))

    def evaluate_runs(self, states, data, batch_size, keys=None):
        """Every run's sums of loss and metrics over `data` (host arrays), in stacked order; `keys`, one per run
        in stacked order, for models that draw random numbers at inference (`Model.draws_at_inference`)."""
        segments = epoch_segments(len(data[0]), batch_size)
        return self._per_run(jax.device_get(self.evaluate(states, data, keys, segments=segments)))

    def _per_run(self, per_group):
        return [jax.tree.map(lambda a, i=i: a[i], group_value)
                for group, group_value in zip(self.groups, per_group) for i in range(group.size)]

    # --- the programs -------------------------------------------------------------------------
    def _begin(self, states, seeds, num_samples, shuffle):
        """The carries and each run's order for an epoch, from the runs' `epoch_seeds` stacked: (shuffle seeds,
        dropout keys), as `Model.fit` derives them."""
        shuffle_seeds, rngs = seeds
        permutation = self.groups[0].programs.permutation_of
        orders = jax.vmap(lambda seed: permutation(seed, num_samples, shuffle, None))(shuffle_seeds)
        carries = []
        for (group, lo, hi), state in zip(self._bounds(), states):
            sums = jax.tree.map(lambda a: jnp.broadcast_to(a, (group.size,) + a.shape), group.programs.empty_sums())
            carries.append(TrainState(*state, rngs[lo:hi], sums))
        return tuple(carries), orders

    def _train_epoch(self, states, seeds, active, data, segments, shuffle):
        """One whole epoch of every run: its own shuffle and dropout keys, every batch."""
        carries, orders = self._begin(states, seeds, data[0].shape[0], shuffle)
        return self._train_chunk(carries, active, data, orders, 0, segments)

    def _train_chunk(self, carries, active, data, orders, start, segments):
        trained = Programs.run_segments(self._step, carries, data, orders, start, segments, None)
        return tuple(self._keep_inactive(group, new, old, active[lo:hi])
                     for (group, lo, hi), new, old in zip(self._bounds(), trained, carries))

    @staticmethod
    def _keep_inactive(group, new, old, active):
        """`new`, with the state of the group's runs that are not `active` taken from `old`."""
        def keep(new_tree, old_tree, flags):
            return jax.tree.map(lambda a, b: jnp.where(flags.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                                new_tree, old_tree)

        opt_states, lo = [], 0
        for size, new_state, old_state in zip(group.sizes, new.opt_state, old.opt_state):
            opt_states.append(keep(new_state, old_state, active[lo:lo + size]))
            lo += size
        return new._replace(trainable=keep(new.trainable, old.trainable, active),
                            fixed=keep(new.fixed, old.fixed, active), opt_state=tuple(opt_states))

    def _step(self, carries, x, y, w, first_sample):
        """One batch for every run: `x`, `y`, `w` are stacked over all runs."""
        return tuple(self._group_step(group, carry, x[lo:hi], y[lo:hi], w[lo:hi], first_sample)
                     for (group, lo, hi), carry in zip(self._bounds(), carries))

    @staticmethod
    def _group_step(group, carry, x, y, w, first_sample):
        """`Programs.train_step`, vmapped over the group's runs, the optimizer update per subgroup."""
        trainable, fixed, opt_states, rng, sums = carry
        programs = group.programs
        step_rng = jax.vmap(batch_key, in_axes=(0, None))(rng, first_sample)
        loss, outcome, grads, fixed = jax.vmap(programs.gradients, in_axes=(0, 0, 0, 0, 0, 0, None, 0))(
            trainable, fixed, x, y, w, step_rng, 1.0, programs.held_states(sums))
        pieces, new_states, lo = [], [], 0
        for updater, size, state in zip(group.updaters, group.sizes, opt_states):
            piece, state = jax.vmap(updater.descend)(part(trainable, lo, lo + size), part(grads, lo, lo + size), state)
            pieces.append(piece)
            new_states.append(state)
            lo += size
        trainable = pieces[0] if len(pieces) == 1 else jax.tree.map(lambda *p: jnp.concatenate(p), *pieces)
        trainable = jax.vmap(programs.constrain)(trainable)
        sums = jax.vmap(programs.add_to_sums)(sums, loss, y, outcome, w)
        return TrainState(trainable, fixed, tuple(new_states), rng, sums)

    def _evaluate(self, states, data, keys, segments):
        """Each run's sums of loss and metrics over `data`, stacked per group, from the weights in the
        group states (or carries); `keys` (or None): each run's key for layers run with training=True."""
        out = []
        for (group, lo, hi), state in zip(self._bounds(), states):
            values = merge_values(state[0], state[1])

            def sums(v, key, programs=group.programs):
                return programs.evaluate_sums(v, data, segments, None, rng=key)

            out.append(jax.vmap(sums)(values, None if keys is None else keys[lo:hi]))
        return tuple(out)
