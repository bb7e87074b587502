"""layer.losses and model.losses against Keras 3: weight penalties, activity penalties and add_loss terms of the
last call on arrays."""
import keras
import numpy as np

import scanfit

X = np.random.default_rng(9).normal(size=(4, 3)).astype("float32")


def _values(losses):
    return sorted(float(loss) for loss in losses)


def test_a_layer_s_penalties_equal_keras():
    def make(K):
        return K.layers.Dense(2, kernel_regularizer=K.regularizers.l2(0.1), bias_regularizer=K.regularizers.l1(0.3),
                              activity_regularizer=K.regularizers.l2(0.01), bias_initializer="ones")

    k_layer, s_layer = make(keras), make(scanfit)
    k_layer(X)
    s_layer(X)
    s_layer.set_weights(k_layer.get_weights())
    k_layer(X)
    s_layer(X)
    assert len(s_layer.losses) == len(k_layer.losses) == 3
    np.testing.assert_allclose(_values(s_layer.losses), _values(k_layer.losses), rtol=1e-6)
    plain = scanfit.layers.Dense(2)
    plain(X)
    assert plain.losses == []


def test_a_model_s_add_loss_and_penalties_equal_keras():
    """Hands-on ML's reconstruction loss (add_loss in call) beside a regularized layer."""

    def build(K):
        class Regressor(K.Model):
            def __init__(self):
                super().__init__()
                self.hidden = K.layers.Dense(5, activation="tanh", kernel_regularizer=K.regularizers.l2(0.05))
                self.reconstruct = K.layers.Dense(3)
                self.out = K.layers.Dense(1)

            def call(self, inputs):
                hidden = self.hidden(inputs)
                self.add_loss(0.05 * K.ops.mean(K.ops.square(self.reconstruct(hidden) - inputs)))
                return self.out(hidden)

        model = Regressor()
        model(X)
        return model

    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    k_model(X)
    s_model(X)
    np.testing.assert_allclose(sum(_values(s_model.losses)), sum(_values(k_model.losses)), rtol=1e-5)
    assert len(s_model.losses) == 2  # the call's terms (one sum), then the kernel penalty


def test_a_frozen_layer_s_weight_penalties_leave_losses_as_in_keras_3():
    """Keras 3 lists the penalties of trainable weights only, as the training loss counts them; a layer frozen
    after its first call drops its penalty from `losses`, and unfrozen it comes back."""
    def make(K):
        dense = K.layers.Dense(2, kernel_regularizer=K.regularizers.L2(1.0), kernel_initializer="ones")
        model = K.Sequential([K.Input((3,)), dense, K.layers.Dense(1, kernel_regularizer=K.regularizers.L1(0.5),
                                                                    kernel_initializer="ones")])
        model(X)
        dense.trainable = False
        return model, dense

    (k_model, k_dense), (s_model, s_dense) = make(keras), make(scanfit)
    assert _values(s_model.losses) == _values(k_model.losses) == [1.0]  # the second kernel's L1: 0.5 * 2
    assert s_dense.losses == k_dense.losses == []
    s_dense.trainable = k_dense.trainable = True
    np.testing.assert_allclose(_values(s_model.losses), _values(k_model.losses))
    assert _values(s_model.losses) == [1.0, 6.0]
