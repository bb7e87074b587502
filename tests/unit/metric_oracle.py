"""Keras 3 as the oracle for metrics updated inside a layer's or model's call() (keras.io's endpoint-layer pattern).

Keras 3.15 on JAX cannot run such an update in fit or evaluate: its trainer gives the forward pass the trainable
and non-trainable variables only, so the metric's variables (purged while fit runs) fail with "'NoneType' object
is not callable"; on TensorFlow the variables simply change. A Keras model class that mixes in
`LayerMetricsOnJax` runs Keras's own forward pass and compute_loss with the metrics' state mapped in as well
(Keras's own StatelessScope); everything else (which metrics, their order and names, resets, logs) is Keras's
trainer's.
"""
import keras


class LayerMetricsOnJax:
    """Keras's JAX trainer step with the metrics' variables in the forward pass's scope (see the module doc)."""

    def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, metrics_variables, x, y,
                                 sample_weight, training=False, optimizer_variables=None):
        mapping = (list(zip(self.trainable_variables, trainable_variables))
                   + list(zip(self.non_trainable_variables, non_trainable_variables))
                   + list(zip(self.metrics_variables, metrics_variables)))
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
            y_pred = self(x, training=training)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training)

        def now(variables):
            return [scope.get_current_value(v) for v in variables]

        return loss, (loss, y_pred, now(self.non_trainable_variables), now(self.metrics_variables))


def keras_model_class(base):
    """`base` (keras.Model or a subclass of it) with `LayerMetricsOnJax` mixed in."""
    return type(base.__name__, (LayerMetricsOnJax, base), {})
