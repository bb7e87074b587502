"""text_dataset_from_directory on a small aclImdb-like folder written by the test, and Chollet's chapter 11 flow on it.

Keras's own loader needs TensorFlow (absent here); the expected batches are the files' own bytes, in Keras's
order (class subfolders sorted, files walked in sorted order, only .txt files).
"""
import numpy as np
import pytest

import scanfit as keras

REVIEWS = {
    "neg/0_2.txt": "Dull and boring.", "neg/1_1.txt": "Awful film, bad plot.", "neg/deep/2_3.txt": "Bad.",
    "pos/0_9.txt": "Great fun!", "pos/1_8.txt": "Lovely, superb film.", "pos/2_10.txt": "Café: superb.",
}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    root = tmp_path_factory.mktemp("aclImdb") / "train"
    for relative, text in REVIEWS.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "pos" / "urls_pos.html").write_text("<not a review>")
    (root / "unsup").mkdir()  # an empty class folder, as aclImdb's train/unsup is to a class_names filter
    return root


def test_batches_hold_the_files_bytes_in_keras_order_with_labels(reviews, capsys):
    dataset = keras.utils.text_dataset_from_directory(reviews, class_names=["neg", "pos"], batch_size=4,
                                                      shuffle=False)
    assert capsys.readouterr().out == "Found 6 files belonging to 2 classes.\n"
    assert dataset.class_names == ["neg", "pos"] and len(dataset) == 2
    texts, labels = dataset[0]
    assert texts.dtype == object and texts.tolist() == [
        b"Dull and boring.", b"Awful film, bad plot.", b"Bad.", b"Great fun!"]
    np.testing.assert_array_equal(labels, [0, 0, 0, 1])
    assert labels.dtype == np.int32
    texts, labels = dataset[1]
    assert texts.tolist() == [b"Lovely, superb film.", "Café: superb.".encode()]
    np.testing.assert_array_equal(labels, [1, 1])


def test_max_length_cuts_bytes_and_label_modes(reviews):
    dataset = keras.utils.text_dataset_from_directory(reviews, class_names=["neg", "pos"], batch_size=None,
                                                      shuffle=False, max_length=4, label_mode="binary",
                                                      verbose=False)
    text, label = dataset[5]
    assert text == "Café".encode()[:4] and label.tolist() == [1.0] and label.dtype == np.float32
    alone = keras.utils.text_dataset_from_directory(reviews / "pos", labels=None, batch_size=8, shuffle=False,
                                                    verbose=False)
    assert alone[0].tolist() == [b"Great fun!", b"Lovely, superb film.", "Café: superb.".encode()]
    categorical = keras.utils.text_dataset_from_directory(reviews, label_mode="categorical", shuffle=False,
                                                          verbose=False)
    assert categorical.class_names == ["neg", "pos", "unsup"]
    np.testing.assert_array_equal(categorical[0][1][:, 2], 0)


def test_seeded_split_partitions_the_files(reviews):
    training, validation = keras.utils.text_dataset_from_directory(
        reviews, class_names=["neg", "pos"], batch_size=2, validation_split=0.34, subset="both", seed=7,
        verbose=False)
    again = keras.utils.text_dataset_from_directory(reviews, class_names=["neg", "pos"], batch_size=2,
                                                    validation_split=0.34, subset="validation", seed=7,
                                                    verbose=False)
    assert len(validation.file_paths) == 2 and validation.file_paths == again.file_paths
    assert sorted(training.file_paths + validation.file_paths) == sorted(
        str(reviews / relative) for relative in REVIEWS)


def test_bad_arguments_get_clear_errors(reviews, tmp_path):
    with pytest.raises(ValueError, match="max_length"):
        keras.utils.text_dataset_from_directory(reviews, max_length=0)
    with pytest.raises(ValueError, match="text_dataset_from_directory: no text files"):
        keras.utils.text_dataset_from_directory(tmp_path)
    with pytest.raises(ValueError, match="text_dataset_from_directory: with validation_split and shuffle=True"):
        keras.utils.text_dataset_from_directory(reviews, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="label_mode='binary' needs exactly 2 classes"):
        keras.utils.text_dataset_from_directory(reviews, label_mode="binary")


def test_chollets_reviews_pipeline_runs_as_written(reviews):
    keras.utils.set_random_seed(0)
    train_ds = keras.utils.text_dataset_from_directory(reviews, class_names=["neg", "pos"], batch_size=2,
                                                       verbose=False)
    text_only_train_ds = train_ds.map(lambda x, y: x)
    text_vectorization = keras.layers.TextVectorization(max_tokens=50, output_mode="multi_hot")
    text_vectorization.adapt(text_only_train_ds)
    assert text_vectorization.get_vocabulary()[:3] == ["[UNK]", "superb", "film"]  # superb 2, film 2: high first
    binary_1gram_train_ds = train_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=4)
    assert binary_1gram_train_ds.workers == 4
    model = keras.Sequential([keras.Input(shape=(text_vectorization.vocabulary_size(),)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(binary_1gram_train_ds.cache(), validation_data=binary_1gram_train_ds.take(1),
                        epochs=30, verbose=0)
    assert history.history["accuracy"][-1] == 1.0 and "val_loss" in history.history


def test_map_cache_prefetch_and_take_follow_tf_data(reviews):
    dataset = keras.utils.text_dataset_from_directory(reviews, class_names=["neg", "pos"], batch_size=4, seed=3,
                                                      verbose=False)
    first = [texts.tolist() for texts, _ in dataset]
    cached = dataset.map(lambda texts, labels: texts).cache()
    assert [texts.tolist() for texts in cached] == first
    dataset.on_epoch_end()  # the source reshuffles; the cache replays its first order, as tf.data's does
    cached.on_epoch_end()
    assert [texts.tolist() for texts in cached] == first
    assert [texts.tolist() for texts in dataset.map(lambda texts, labels: texts)] != first  # reshuffled
    taken = dataset.take(1)
    assert len(taken) == 1 and len(dataset.take(-1)) == 2 and len(dataset.take(9)) == 2
    with pytest.raises(IndexError):
        taken[1]
    assert dataset.prefetch(3).max_queue_size == 3
    assert dataset.prefetch(keras.utils.dataset_pipeline.AUTOTUNE).max_queue_size == dataset.max_queue_size
    with pytest.raises(ValueError, match="caches batches in memory"):
        dataset.cache("/tmp/cache")
    with pytest.raises(ValueError, match="num_parallel_calls must be a positive int"):
        dataset.map(lambda x, y: x, num_parallel_calls=0)
