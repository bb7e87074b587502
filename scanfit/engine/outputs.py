"""What `compile` asked for, per model output: the loss, its weight, the metrics, and their log names.

A model of one output keeps the names it always had (``loss``,
``accuracy``). With several outputs, Keras 3's names: ``loss`` for the
total, ``<output>_loss`` for each output's own loss (before its weight) and
``<output>_<metric>`` for each metric. `loss`, `loss_weights` and `metrics`
may each be one value for every output (metrics: not for several outputs,
as Keras), a list in the order of the outputs, or a dict by output name.
"""
import numpy as np

from scanfit import losses, metrics as metrics_module
from scanfit.engine.programs import masked_weights, pick


def output_names_and_shapes(model):
    """``(names, batch-first shapes)`` of the model's outputs."""
    shapes = model.output_shape
    shapes = list(shapes) if isinstance(shapes, list) else [shapes]
    if len(shapes) == 1:
        return [None], shapes
    return list(model.output_keys), shapes


def per_output(spec, names, what, default=None):
    """`spec` as one entry per output: the same value for all, a list in order, or a dict by name."""
    if isinstance(spec, dict) and not _is_config(spec):
        known = [n for n in names if n is not None]
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise ValueError(f"{what} names {unknown}, which are not outputs of the model; its outputs are {known}.")
        return [spec.get(name, default) for name in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1:
        if len(spec) != len(names):
            raise ValueError(f"{what} is a list of {len(spec)} entries, but the model has {len(names)} outputs "
                             f"{names}: give one entry per output (or a dict by output name).")
        return list(spec)
    if spec is None:
        return [default] * len(names)
    return [spec] * len(names)


def flat_outputs(model, value):
    """Targets or outputs as the engine orders them: the value itself for one output, else a tuple in the
    order of the model's outputs (from a list, a tuple, or a dict by output name)."""
    names = model.output_keys
    if len(names) == 1:
        return value[names[0]] if isinstance(value, dict) else value
    if isinstance(value, dict):
        missing = [name for name in names if name not in value]
        if missing:
            raise ValueError(f"Model {model.name!r} has outputs {names}; the dict has no entry for {missing}.")
        return tuple(value[name] for name in names)
    return tuple(value)


def target_shapes(model, y):
    """The batch-free shapes of targets `y`, as `CompiledOutputs` takes them."""
    flat = flat_outputs(model, y)
    shape = lambda a: (None,) + tuple(np.shape(a)[1:])
    return [shape(a) for a in flat] if isinstance(flat, tuple) else shape(flat)


def _is_config(value):
    return isinstance(value, dict) and "class_name" in value


class CompiledOutputs:
    """The losses and metrics of a compiled model, resolved against its output and target shapes."""

    def __init__(self, model, y_shapes, loss_required=True, with_metrics=True):
        names, shapes = output_names_and_shapes(model)
        y_shapes = y_shapes if len(names) > 1 else [y_shapes]
        if len(y_shapes) != len(names):
            raise ValueError(f"The model has {len(names)} outputs but {len(y_shapes)} targets were given.")
        loss_ids = per_output(model.compile_settings.loss, names, "loss")
        if loss_required and all(loss is None for loss in loss_ids):
            raise ValueError("No loss to optimize: pass loss= to model.compile(), "
                             "e.g. loss='sparse_categorical_crossentropy'.")
        weights = per_output(model.compile_settings.loss_weights, names, "loss_weights", default=1.0)
        self.names = names
        self.output_shapes = shapes
        self.losses = []  # (output index or None, output name, Loss, weight, loss identifier)
        for index, (name, loss_id, weight, y_shape, shape) in enumerate(zip(names, loss_ids, weights, y_shapes, shapes)):
            if loss_id is None:
                continue
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise TypeError(f"loss_weights must hold numbers, got {weight!r} for output {name!r}.")
            output = None if len(names) == 1 else index
            loss = losses.resolve_loss(loss_id, y_shape, shape)
            if loss.reduction is None or loss.reduction == "none":
                raise ValueError(f"The loss {loss.name!r} has reduction={loss.reduction!r}: it gives one value per "
                                 "sample, and training needs one number per batch. Leave reduction at its default "
                                 "('sum_over_batch_size'), or pass 'sum' or 'mean_with_sample_weight'.")
            self.losses.append((output, name, loss, float(weight), loss_id))
        self.metrics = []  # (output, Metric, weighted)
        settings = model.compile_settings
        specs = ((False, settings.metrics), (True, settings.weighted_metrics)) if with_metrics else ()
        for weighted, spec in specs:
            for index, (name, ids) in enumerate(zip(names, self._metric_lists(spec, names))):
                loss_id = loss_ids[index]
                for identifier in ids:
                    metric = metrics_module.resolve_metric(identifier, loss_id, y_shapes[index], shapes[index])
                    self.metrics.append((None if len(names) == 1 else index, metric, weighted))

    @staticmethod
    def _metric_lists(spec, names):
        if not spec:
            return [[] for _ in names]
        if len(names) == 1:
            if isinstance(spec, dict) and not _is_config(spec):
                spec = per_output(spec, names, "metrics")[0]
            if isinstance(spec, (list, tuple)) and len(spec) == 1 and isinstance(spec[0], (list, tuple)):
                spec = spec[0]  # tf.keras 2 saved one list per output
            return [_as_list(spec)]
        if isinstance(spec, (list, tuple)) and len(spec) != len(names):  # Keras 3: one entry (a metric or a
            raise ValueError(                                              # list of them) per output
                f"For a model with several outputs {names}, metrics must be a list with one entry (a metric or a "
                f"list of metrics) per output, or a dict by output name, as in Keras; got {spec!r}."
            )
        return [_as_list(item) for item in per_output(spec, names, "metrics")]

    def program_losses(self):
        """``(per_sample_fn, weight, output, reduction)`` for the programs."""
        return [(loss.per_sample, weight, output, loss.reduction) for output, _, loss, weight, _ in self.losses]

    def reduce_by_batch_size(self):
        """Whether every loss is a mean over the batch (Keras's default reduction) of every entry (none left out,
        as `ignore_class` leaves some): only then does a batch padded with weight-0 samples give the batch's
        loss."""
        return all(loss.reduction in ("sum_over_batch_size", "mean") and not loss.masks_entries
                   for _, _, loss, _, _ in self.losses)

    def program_metrics(self):
        """``(per_sample_fn, weighted, output)`` for the programs, for the metrics that are weighted means."""
        return [(metric.per_sample, weighted, output) for output, metric, weighted in self.metrics
                if not metric.is_stateful]

    def stateful_metrics(self):
        """``(Metric, weighted, output)`` for the programs, for the metrics that carry variables (a user's)."""
        return [(metric, weighted, output) for output, metric, weighted in self.metrics if metric.is_stateful]

    def log_names(self):
        """The names of what the programs sum, after ``loss``: per-output losses (several only), then metrics."""
        names = [f"{name}_loss" for _, name, _, _, _ in self.losses] if len(self.losses) > 1 else []
        counts = {}  # as Keras 3 names them: a repeated name gets _1, _2, ...; a weighted metric's, weighted_
        for output, metric, weighted in self.metrics:
            prefix = "" if output is None else f"{self.names[output]}_"
            name = prefix + metric.name
            if name in counts and weighted:
                name = f"{prefix}weighted_{metric.name}"
            if name in counts:
                counts[name] += 1
                names.append(f"{name}_{counts[name] - 1}")
            else:
                counts[name] = 1
                names.append(name)
        return names

    def results(self, totals, weights, states):
        """Final values, in `log_names` order, from the sums' totals and weights (a mean of nothing is 0; a
        metric may turn its mean into its result) and the stateful metrics' `states`."""
        means = [float(total / weight) if weight else None for total, weight in zip(totals, weights)]
        logged = len(self.losses) if len(self.losses) > 1 else 0
        values = [0.0 if mean is None else mean for mean in means[:logged]]
        means, states = iter(means[logged:]), iter(states)
        for _, metric, _ in self.metrics:
            if metric.is_stateful:
                values.append(metric.result_of(next(states)))
            else:
                mean = next(means)
                values.append(0.0 if mean is None else float(metric.result_from_mean(mean)))
        return values

    def metric_log_names(self):
        """The log names of the metrics alone, in order."""
        names = self.log_names()
        return names[len(names) - len(self.metrics):]

    def loss_for(self, output):
        """The resolved Loss of output `output` (None for a model of one output), or None."""
        for index, _, loss, _, _ in self.losses:
            if index == output:
                return loss
        return None


class CompileMetrics(metrics_module.Metric):
    """``compile()``'s metrics and weighted metrics as one metric named ``compile_metrics``, as Keras 3's
    ``model.metrics`` holds them for a custom ``train_step``: its variables are those of every metric, its
    result a dict by log name. It has no variables until `build_for` resolves the metrics against the
    targets' shapes (fit and evaluate do, before their first step)."""

    def __init__(self, model):
        super().__init__(name="compile_metrics")
        self.model = model
        self.outputs = None

    def build_for(self, y_shapes):
        if self.outputs is None:
            self.outputs = CompiledOutputs(self.model, y_shapes, loss_required=False)

    @property
    def variables(self):
        return [] if self.outputs is None else [v for _, metric, _ in self.outputs.metrics for v in metric.variables]

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.outputs is None:
            raise ValueError("compile_metrics is not built yet: fit or evaluate builds it for the targets' shapes.")
        for output, metric, weighted in self.outputs.metrics:
            prediction = pick(flat_outputs(self.model, y_pred), output)
            mask = self.model.output_mask(prediction)  # as Keras's metrics take an output tensor's mask
            metric.update_state(pick(flat_outputs(self.model, y_true), output), prediction,
                                sample_weight=masked_weights(mask, sample_weight if weighted else None))

    def result(self):
        if self.outputs is None:
            return {}
        return {name: metric.result() for name, (_, metric, _) in zip(self.outputs.metric_log_names(),
                                                                     self.outputs.metrics)}

    def reset_state(self):
        for _, metric, _ in [] if self.outputs is None else self.outputs.metrics:
            metric.reset_state()


def _as_list(spec):
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        return list(spec)
    return [spec]
