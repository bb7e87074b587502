"""A model's own train_step (Keras 3's JAX form, the Keras guide's code): scanfit against Keras 3 + JAX.

The seed MLP (Flatten -> Dense(100, relu) -> Dense(10, softmax)), RMSprop, batch 32, 48,000 Fashion-MNIST
samples, trained by the guide's ``train_step`` (stateless_call, value_and_grad, optimizer.stateless_apply,
every metric of model.metrics). Keras runs it by default and at ``steps_per_execution=100``; scanfit runs
it inside one scanned program per epoch. A last row is scanfit's built-in fit of the same model without the
override, for what the custom step costs. Each contender in a fresh process, interleaved.

    python bench/custom_step.py [--repeats 3]   # prints the table, writes bench/results/custom_step.json
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, epoch_summary, report, run_contender, time_epochs  # noqa: E402
from mlp import EPOCH_KEYS, EPOCHS, _data  # noqa: E402

CONTENDERS = ("scanfit", "keras-jax", "keras-jax-spe100", "scanfit-built-in")


def _model(library, own_step):
    import jax

    class CustomModel(library.Model):
        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y, training=False):
            y_pred, non_trainable_variables = self.stateless_call(trainable_variables, non_trainable_variables, x,
                                                                  training=training)
            return self.compute_loss(x, y, y_pred), (y_pred, non_trainable_variables)

        def train_step(self, state, data):
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
            x, y = data
            (loss, (y_pred, non_trainable_variables)), grads = jax.value_and_grad(
                self.compute_loss_and_updates, has_aux=True)(trainable_variables, non_trainable_variables, x, y,
                                                             training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            new_metrics_vars, logs = [], {}
            for metric in self.metrics:
                this = metrics_variables[len(new_metrics_vars):len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_metrics_vars += this
            return logs, (trainable_variables, non_trainable_variables, optimizer_variables, new_metrics_vars)

    inputs = library.Input(shape=(28, 28))
    hidden = library.layers.Dense(100, activation="relu")(library.layers.Flatten()(inputs))
    outputs = library.layers.Dense(10, activation="softmax")(hidden)
    return (CustomModel if own_step else library.Model)(inputs, outputs)


def contender(name):
    x, y = _data()
    if name.startswith("scanfit"):
        import scanfit as library
    else:
        import keras as library
    model = _model(library, own_step=name != "scanfit-built-in")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=100 if name == "keras-jax-spe100" else 1)
    times = time_epochs(lambda: model.fit(x, y, batch_size=32, epochs=1, verbose=0), EPOCHS)
    # predict, not evaluate: Keras's default test_step calls a compute_loss_and_updates of its own, which the
    # guide's model replaces with another signature
    accuracy = (model.predict(x[:5000], verbose=0).argmax(axis=1) == y[:5000]).mean()
    return {**epoch_summary(times), "train_accuracy_5k": float(accuracy)}


def main(repeats):
    runs = {name: [] for name in CONTENDERS}
    for _ in range(repeats):  # interleaved, so a slow spell of the shared machine hits all alike
        for name in CONTENDERS:
            runs[name].append(run_contender(__file__, name))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    rows = [{"system": name, **best_of(results, EPOCH_KEYS)} for name, results in runs.items()]
    by_name = {row["system"]: row for row in rows}
    for row in rows:
        if "error" not in row:
            steady = [r["steady_epoch_s"] for r in row["runs"]]
            row["steady_epoch_s_range"] = [min(steady), max(steady)]
    ratios, scan = {}, by_name["scanfit"]
    for other in ("keras-jax", "keras-jax-spe100", "scanfit-built-in"):
        row = by_name[other]
        if "error" not in scan and "error" not in row:
            ratios[f"steady_{other}_over_scanfit"] = row["steady_epoch_s"] / scan["steady_epoch_s"]
            ratios[f"first_epoch_{other}_over_scanfit"] = row["first_epoch_s"] / scan["first_epoch_s"]
    report("custom_step", rows, ["system", "first_epoch_s", "steady_epoch_s", "first_epoch_cpu_s",
                                 "steady_epoch_cpu_s", "train_accuracy_5k"],
           {"setting": f"seed MLP with the Keras guide's train_step, RMSprop, batch 32, 48,000 samples; best of "
                       f"{repeats} interleaved runs", **ratios})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process runs of each contender (best kept)")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender)))
    else:
        main(args.repeats)
