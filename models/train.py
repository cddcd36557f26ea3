"""Training of the CNNs: augmentation, class imbalance, validation, schedules,
stochastic weight averaging, checkpoints that resume exactly, and the run folder.

The order of the data and every random augmentation of a batch derive from
``(seed, epoch, batch)`` alone, and each epoch's checkpoint holds the weights,
the optimizer's state and the dropout generators' state, so a resumed run
continues where the interrupted one stopped.
"""

import contextlib
import csv
import json
import math
import os
import signal
import time

import numpy as np

from ..features.io import DataError, load_arrays, load_manifest, load_split, load_targets, manifest_spec
from ..features.util import atomic_write, atomic_write_json, handling_signals
from ..parameters import FEATURES, TRAINING, VERSION

from .backend import import_keras, import_tensorflow
from .augment import augment_batch, features_of_augmented
from .bundle import BUNDLE_JSON, Standardizer, make_meta, model_inputs, save_bundle, save_keras, save_model
from .config import ConfigError, TrainingConfig
from .distill import TEACHER_FILE, mix_targets, teacher_probabilities
from .finetune import fine_tune_config, is_frozen, set_frozen, start_from
from .precision import dtype_policy, with_precision

#: The checkpoint of older versions (one file, overwritten every epoch).
CHECKPOINT = "checkpoint.keras"
#: Checkpoint and averaged weights of an epoch: ``state.json`` names the pair
#: it belongs to, so a kill between writing them and the state never mixes epochs.
CHECKPOINT_FILE = "checkpoint-{:04d}.keras"
SWA_FILE = "swa-{:04d}.npz"
STATE = "state.json"
#: Test hook: the process kills itself right after writing this epoch's
#: checkpoint, before the run state (the moment that once desynchronised them).
KILL_AFTER_CHECKPOINT_ENV = "FER_TOOLKIT_TEST_KILL_AFTER_CHECKPOINT"
HISTORY = "history.csv"
CURVES = "training_curves.png"
#: Running average of the weights during stochastic weight averaging (older versions).
SWA_WEIGHTS = "swa.npz"


class TrainingError(Exception):
    """A problem that stops training before it starts (one line)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training.

    Attributes
    ----------
    epoch : int
        The last checkpointed epoch, from which ``resume`` continues (0: none).
    """

    def __init__(self, epoch):
        super().__init__(epoch)
        self.epoch = epoch


def as_config(config):
    """A :class:`~models.config.TrainingConfig` from one, or from a dict of settings.

    Raises
    ------
    TrainingError
        An unknown setting or a bad value (one line).
    """
    if isinstance(config, TrainingConfig):
        return config
    try:
        return TrainingConfig.from_dict(config)
    except ConfigError as e:
        raise TrainingError(str(e)) from None


# --------------------------------------------------------------------------
# Data


def _sampling_order(labels, n_classes, rng, imbalance):
    """Indices of one epoch: a permutation, or a class-balanced resample."""
    n = len(labels)
    if imbalance != "oversample":
        return rng.permutation(n)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    # Draw rare classes more often: probability proportional to count**-0.5
    # per sample, i.e. class mass proportional to sqrt(count).
    weights = 1.0 / np.sqrt(np.maximum(counts, 1))[labels]
    return rng.choice(n, size=n, replace=True, p=weights / weights.sum())


def class_weights(labels, n_classes):
    """Balanced class weights ``n / (K * count)``."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return {i: float(len(labels) / (n_classes * max(c, 1))) for i, c in enumerate(counts)}


def make_epoch_data(train, config, standardizer, n_classes, epoch):
    """A ``tf.data`` pipeline of one epoch's augmented batches.

    Each batch is computed from ``(seed, epoch, batch index)`` alone, in
    order, in a background thread (``prefetch``), so the stream is the same
    whether the run was interrupted or not.

    Parameters
    ----------
    train : dict
        Training arrays: ``images``, ``labels``, optional ``landmarks`` and
        ``features`` (stacked, unaugmented), and ``targets`` (per-row class
        distributions, soft labels) when the data have them.
    config : models.config.TrainingConfig
    standardizer : Standardizer
    n_classes : int
    epoch : int

    Returns
    -------
    tf.data.Dataset
        Yields ``({"image", ["features"]}, targets)``: one-hot labels, or the soft labels.
    """
    tf = import_tensorflow()

    seed, bs, spec = config.seed, config.batch_size, train["spec"]
    order = _sampling_order(train["labels"], n_classes, np.random.default_rng([seed, epoch]), config.imbalance)
    params = TRAINING.__class__(**{k: getattr(config, k) for k in TRAINING.__dataclass_fields__})
    eye = np.eye(n_classes, dtype=np.float32)
    n_batches = math.ceil(len(order) / bs)
    feature_dim = train["features"].shape[1]

    def batch(i):
        idx = np.sort(order[i * bs : (i + 1) * bs])
        images = train["images"][idx]
        if config.augment:
            rng = np.random.default_rng([seed, epoch, i])
            landmarks = train["landmarks"][idx] if "landmarks" in train else None
            images, landmarks = augment_batch(images, landmarks, rng, params, spec)
            features = features_of_augmented(images, landmarks, spec)
        else:
            features = train["features"][idx]
        targets = train["targets"][idx] if "targets" in train else eye[train["labels"][idx]]
        return model_inputs(images, standardizer(features)), targets

    signature = {"image": tf.TensorSpec((None, *train["images"].shape[1:], 1), tf.float32)}
    if feature_dim:
        signature["features"] = tf.TensorSpec((None, feature_dim), tf.float32)
    dataset = tf.data.Dataset.from_generator(
        lambda: (batch(i) for i in range(n_batches)),
        output_signature=(signature, tf.TensorSpec((None, n_classes), tf.float32)),
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


def load_training_data(config):
    """Training and validation arrays, and the feature standardiser.

    Returns
    -------
    train : dict
        ``images``, ``labels``, ``features`` (stacked), ``landmarks`` when
        the feature set uses them, and ``spec``: the data's feature
        specification with the configured feature set; ``targets`` when the
        data hold soft labels (:func:`features.io.load_targets`).
    val : tuple of (images, features, labels)
    standardizer : Standardizer
    manifest : dict
    """
    data = config.data
    try:
        manifest = load_manifest(data)
        spec = manifest_spec(manifest, config.features, data)
        arrays = load_arrays(data, "Training", spec.arrays, config.train_limit)
        val = load_split(data, "PublicTest", config.features, config.val_limit)
        targets = load_targets(data, "Training", arrays["labels"], config.train_limit)
    except DataError as e:
        raise TrainingError(str(e)) from None
    if not len(arrays["labels"]) or not len(val[2]):
        empty = "Training" if not len(arrays["labels"]) else "PublicTest"
        raise TrainingError(f"{data}: the {empty} split is empty: nothing to {'train on' if empty == 'Training' else 'validate on'}")
    train = {"images": arrays["images"], "labels": arrays["labels"], "features": spec.stack(arrays), "spec": spec}
    if targets is not None:
        train["targets"] = targets
    if "landmarks" in arrays:
        train["landmarks"] = arrays["landmarks"]
    return train, val, Standardizer.fit(train["features"]), manifest


# --------------------------------------------------------------------------
# Model, optimizer, loss


def distil(train, config, classes, cache, fresh=False, log=print):
    """Mix the teachers' probabilities into ``train``'s targets (``config.teacher``; in place).

    Parameters
    ----------
    train : dict
        :func:`load_training_data`'s training arrays.
    config : models.config.TrainingConfig
    classes : list of str
    cache : str
        Where the teachers' probabilities are kept for a resumed run.
    fresh : bool, optional
        A new run: the cache of an earlier run in the folder is not used.
    log : callable, optional
    """
    if fresh and os.path.isfile(cache):
        os.remove(cache)
    labels = train["labels"]
    teacher = teacher_probabilities(config.teacher, config.data, classes, len(labels), config.train_limit,
                                    cache=cache, log=log)
    base = train["targets"] if "targets" in train else np.eye(len(classes), dtype=np.float32)[labels]
    train["targets"] = mix_targets(base, teacher, config.teacher_weight)
    log(f"distilling from {', '.join(config.teacher)} (weight {config.teacher_weight}): the teachers agree "
        f"with the labels on {np.mean(teacher.argmax(1) == labels):.1%} of the Training faces")


def _strategy(config):
    """The ``tf.distribute`` strategy asked for, or None."""
    tf = import_tensorflow()

    kind = config.distribute
    if kind == "none":
        return None
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in (gpus or cpus)]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainingError(f"unknown --distribute {kind!r} (none, mirrored, multiworker)")


def build_optimizer(config):
    """Momentum SGD, Adam or RMSprop with the configured settings."""
    keras = import_keras()

    name, lr, wd = config.optimizer, config.learning_rate, config.weight_decay or None
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=True, weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(lr, beta_1=config.beta1, weight_decay=wd)
    return keras.optimizers.RMSprop(lr, momentum=config.momentum if config.momentum < 1 else 0.0, weight_decay=wd)


def build_loss(config):
    """Cross-entropy, or focal loss for ``imbalance=focal``."""
    keras = import_keras()

    if config.imbalance == "focal":
        return keras.losses.CategoricalFocalCrossentropy(gamma=config.focal_gamma,
                                                         label_smoothing=config.label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


def build_from_config(config, n_classes, feature_dim, image_size=FEATURES.image_size):
    """The compiled Keras model a configuration describes (a
    :class:`~models.config.TrainingConfig` or a dict of settings)."""
    from .cnn import build_model

    config = as_config(config)
    model_kind = config.model.upper()
    filters = config.filters_a if model_kind == "A" else config.filters_b
    model = build_model(
        model_kind, n_classes, feature_dim, filters=tuple(filters), activation=config.activation,
        keep_prob=config.keep_prob, batch_norm_conv=config.batch_norm_conv,
        batch_norm_dense=config.batch_norm_dense, image_units=config.image_units,
        feature_units=tuple(config.feature_units), fusion_units=config.fusion_units,
        spatial_dropout=config.spatial_dropout, image_size=image_size,
    )
    return _compile(model, config)


def _compile(model, config):
    """Compile a model with the configuration's optimizer and loss (a new optimizer state)."""
    model.compile(optimizer=build_optimizer(config), loss=build_loss(config), metrics=["accuracy"])
    return model


# --------------------------------------------------------------------------
# Run folder


def _write_progress(run_dir, history):
    """``history.csv`` and ``training_curves.png`` of the epochs so far, each written atomically,
    so that an interrupted run keeps both."""
    from .plots import training_curves

    path = os.path.join(run_dir, HISTORY)
    with atomic_write(path, newline="") as f:
        columns = list(dict.fromkeys(key for row in history for key in row))  # rows of older versions lack some
        writer = csv.DictWriter(f, fieldnames=columns, restval=0)
        writer.writeheader()
        writer.writerows(history)
    training_curves(history, os.path.join(run_dir, CURVES))


def _architecture_png(model, run_dir, log):
    """``architecture.png`` via Keras ``plot_model`` (needs Graphviz)."""
    keras = import_keras()

    path = os.path.join(run_dir, "architecture.png")
    try:
        keras.utils.plot_model(model, to_file=path, show_shapes=True, show_layer_names=True, dpi=60)
    except (ImportError, OSError, Exception) as e:  # pydot/graphviz missing raises several kinds
        log(f"warning: architecture.png skipped (install Graphviz's 'dot' to get it): {e}".splitlines()[0])
        return False
    return os.path.isfile(path)


class _StopOnSignal:
    """Turn Ctrl-C and SIGTERM into a request to stop after the current batch.

    Raising KeyboardInterrupt straight from a signal handler can be lost:
    Python discards an exception raised while a ``__del__`` method or a weakref
    callback runs, and TensorFlow runs many, so a ``kill`` was once ignored.
    A flag that the training loop checks after every batch cannot be lost.
    A second signal raises KeyboardInterrupt at once, except inside
    :meth:`deferred`. Either leaves the block as :class:`TrainingInterrupted`
    with ``saved_epoch``, the last epoch that the loop has checkpointed.
    """

    def __init__(self):
        self.saved_epoch = 0
        self.requested = False
        self._deferring = False

    def _handler(self, signum, frame):
        if self.requested and not self._deferring:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def deferred(self):
        """A block that no signal interrupts (a stop asked for meanwhile waits for its end)."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def __enter__(self):
        self._restore = contextlib.ExitStack()
        self._restore.enter_context(handling_signals(self._handler))
        return self

    def __exit__(self, exc_type, exc, tb):
        self._restore.close()
        if exc_type is KeyboardInterrupt:
            raise TrainingInterrupted(self.saved_epoch) from None
        return False

    def check(self):
        """Raise KeyboardInterrupt if a stop was requested."""
        if self.requested:
            raise KeyboardInterrupt

    def callback(self, model):
        """A Keras callback that ends ``fit`` after the batch during which a stop was requested."""
        keras = import_keras()

        def on_batch_end(batch, logs=None):
            if self.requested:
                model.stop_training = True

        return keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)


def reseed_dropout(model, seed, epoch):
    """Set every dropout generator's state from ``(seed, epoch)``.

    Keras re-creates these generators with fresh seeds when a model is loaded,
    so without this a resumed run would draw other dropout masks than the
    uninterrupted one.
    """
    keras = import_keras()

    generators = [g for layer in model._flatten_layers() for g in vars(layer).values()
                  if isinstance(g, keras.random.SeedGenerator)]
    seeds = np.random.default_rng([seed, epoch, 7919]).integers(1, 2**30, size=len(generators))
    for generator, value in zip(generators, seeds):
        generator.state.assign(np.array([value, 0], dtype=generator.state.dtype))
    return len(generators)


def _validate(model, val, standardizer, batch_size):
    """Loss and accuracy on the validation split."""
    images, features, labels = val
    inputs = model_inputs(images, standardizer(features))
    probs = np.asarray(model.predict(inputs, batch_size=max(batch_size, 256), verbose=0), dtype=np.float64)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0))))
    return loss, float(np.mean(np.argmax(probs, axis=1) == labels))


def scheduled_learning_rate(config, epoch, lr_scale):
    """Learning rate of a main-phase epoch: the decayed one, scaled by the
    plateau reductions so far (``lr_scale``), never below the floor."""
    return max(config.learning_rate * config.decay ** epoch * lr_scale, config.min_learning_rate)


def _fit_epoch(model, train_data, config, standardizer, n_classes, epoch, lr, weights, stop, verbose):
    """Train one epoch at learning rate ``lr`` (or until ``stop`` is requested).

    The dropout generators are reseeded from the epoch first.

    Returns
    -------
    loss, accuracy : float
        Training figures of the epoch.
    seconds : float
    """
    keras = import_keras()

    model.optimizer.learning_rate = lr
    reseed_dropout(model, config.seed, epoch)
    data = make_epoch_data(train_data, config, standardizer, n_classes, epoch)
    callbacks = [keras.callbacks.TerminateOnNaN(), stop.callback(model)]
    if verbose:
        callbacks.append(_progress_bar(epoch, config.epochs, math.ceil(len(train_data["labels"]) / config.batch_size)))
    started = time.perf_counter()
    fit = model.fit(data, epochs=epoch + 1, initial_epoch=epoch, class_weight=weights, verbose=0, shuffle=False,
                    callbacks=callbacks)
    seconds = time.perf_counter() - started
    return fit.history["loss"][-1], fit.history["accuracy"][-1], seconds


def _progress_bar(epoch, epochs, n_batches):
    """A Keras callback that shows one epoch's batches as a progress bar
    (the epoch's result then follows on one line of its own)."""
    from tqdm import tqdm

    keras = import_keras()

    class Bar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False)

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

        def on_train_end(self, logs=None):
            self.bar.close()

    return Bar()


def _track_best(state, row):
    """Record whether an epoch's validation accuracy is the best so far, and
    count the epochs since the best one (for early stopping).

    Returns
    -------
    bool
        Whether this epoch is the best so far.
    """
    improved = row["val_accuracy"] > state["best_val_accuracy"]
    if improved:
        state.update(best_val_accuracy=row["val_accuracy"], best_epoch=row["epoch"], stale=0)
    else:
        state["stale"] += 1
    return improved


def _update_schedule(state, config, row):
    """Record a main-phase epoch's validation figures in the run state.

    Tracks the best epoch (:func:`_track_best`), and multiplies the learning
    rate's scale by ``plateau_factor`` when the validation loss has not
    improved for ``plateau_patience`` epochs.

    Returns
    -------
    bool
        Whether this epoch is the best so far.
    """
    improved = _track_best(state, row)
    if row["val_loss"] < state["best_val_loss"] - 1e-4:
        state.update(best_val_loss=row["val_loss"], plateau_wait=0)
    else:
        state["plateau_wait"] += 1
        if state["plateau_wait"] >= config.plateau_patience:
            state.update(lr_scale=state["lr_scale"] * config.plateau_factor, plateau_wait=0)
    return improved


def _main_phase_ended(state, config):
    """Why the main phase is over (``"epochs"``, ``"early stopping"``), or None."""
    if state["epoch"] and state["stale"] >= config.early_stopping_patience:
        return "early stopping"
    if state["epoch"] >= config.epochs:
        return "epochs"
    return None


# --------------------------------------------------------------------------
# Stochastic weight averaging


def average_into(average, model, count):
    """Add a model's trainable weights to a running average.

    Parameters
    ----------
    average : list of ndarray or None
        Mean of the trainable weights of ``count`` models (None when 0).
    model : keras.Model
    count : int

    Returns
    -------
    list of ndarray
        Mean of ``count + 1`` models.
    """
    weights = [np.asarray(v.numpy()) for v in model.trainable_weights]
    if not count:
        return [w.copy() for w in weights]
    return [a + (w - a) / (count + 1) for a, w in zip(average, weights)]


@contextlib.contextmanager
def swapped_weights(model, trainable):
    """Run a block with the model's trainable weights set to ``trainable``.

    Every weight, the batch-norm statistics included, is restored afterwards.
    """
    saved = [v.numpy() for v in model.weights]
    for variable, value in zip(model.trainable_weights, trainable):
        variable.assign(value)
    try:
        yield model
    finally:
        for variable, value in zip(model.weights, saved):
            variable.assign(value)


def recompute_batch_norm(model, images, features, standardizer, batch_size=256):
    """Re-estimate every batch-norm layer's moving statistics on some images.

    Averaged weights need statistics of their own (Izmailov et al., 2018,
    "Averaging weights leads to wider optima and better generalization"):
    each moving mean and variance becomes the mean of the layer's batch
    statistics over ``images``, computed as in training (dropout on).

    Parameters
    ----------
    model : keras.Model
    images : (N, 48, 48) uint8 ndarray
    features : (N, D) ndarray
        The images' features, not standardised.
    standardizer : Standardizer
    batch_size : int, optional

    Returns
    -------
    int
        How many batch-norm layers were updated.
    """
    keras = import_keras()

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for t, start in enumerate(range(0, len(images) if layers else 0, batch_size)):
            for layer in layers:  # moving = t/(t+1) moving + 1/(t+1) batch: the mean of the batches
                layer.momentum = t / (t + 1)
            end = start + batch_size
            model(model_inputs(images[start:end], standardizer(features[start:end])), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def _save_average(path, average, count):
    """Write the running average of the weights atomically."""
    with atomic_write(path, "wb") as f:
        np.savez(f, count=count, *average)


def _load_average(path, count):
    """The running average written by :func:`_save_average`, checked against the run state."""
    try:
        with np.load(path) as saved:
            if int(saved["count"]) != count:
                raise TrainingError(f"{path} averages {int(saved['count'])} epochs, the run state says {count}")
            return [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
    except (OSError, ValueError, KeyError) as e:
        raise TrainingError(f"{path}: cannot read the averaged weights ({e})") from None


#: Fields of ``state.json`` and the types they must have.
STATE_FIELDS = {"config": dict, "epoch": int, "best_val_accuracy": (int, float), "best_epoch": int,
                "best_val_loss": (int, float), "plateau_wait": int, "stale": int, "lr_scale": (int, float),
                "history": list, "seconds": (int, float)}


def read_state(path):
    """The run state of a run folder, checked field by field.

    Raises
    ------
    TrainingError
        One line naming the file and the first field that is missing or wrong.
    """
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise TrainingError(f"{path}: corrupt run state ({str(e)[:100]}); start afresh with --force") from None
    if not isinstance(state, dict):
        raise TrainingError(f"{path}: corrupt run state (not an object); start afresh with --force")
    for field, kind in STATE_FIELDS.items():
        if field not in state:
            raise TrainingError(f"{path}: field {field!r} missing; start afresh with --force")
        if not isinstance(state[field], kind) or isinstance(state[field], bool):
            raise TrainingError(f"{path}: field {field!r} has the wrong type; start afresh with --force")
    if state["epoch"] < 0 or state["epoch"] != len(state["history"]):
        raise TrainingError(f"{path}: field 'epoch' ({state['epoch']}) does not match its {len(state['history'])} "
                            "history rows")
    try:  # settings added since the run began take their defaults
        TrainingConfig.from_dict(state["config"])
    except ConfigError as e:
        field = f"config.{e.field}" if e.field else "config"
        raise TrainingError(f"{path}: field {field!r}: {e}; start afresh with --force") from None
    for key in ("checkpoint", "swa_file"):
        name = state.get(key)
        if name is not None and (not isinstance(name, str) or os.path.basename(name) != name):
            raise TrainingError(f"{path}: field {key!r} must be a file name in the run folder")
    return state


def _load_checkpoint(path):
    """The Keras model of a checkpoint (with its optimizer), or a one-line :class:`TrainingError`."""
    keras = import_keras()

    if not os.path.isfile(path):
        raise TrainingError(f"{path}: the checkpoint named by {STATE} is missing; start afresh with --force")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as e:  # truncated or foreign archives raise many kinds of errors
        raise TrainingError(f"{path}: corrupt checkpoint ({type(e).__name__}); start afresh with --force") from None


def _write_checkpoint(run_dir, model, state, average):
    """Write an epoch's checkpoint (and running average), then the run state naming them.

    Each file is written atomically under a name of its own epoch, the state
    last; files of earlier epochs go once the state no longer names them.
    A kill at any moment leaves a state whose files are all there.
    """
    epoch = state["epoch"]
    state["checkpoint"] = CHECKPOINT_FILE.format(epoch)
    save_keras(model, os.path.join(run_dir, state["checkpoint"]))
    if average is not None:
        state["swa_file"] = SWA_FILE.format(epoch)
        _save_average(os.path.join(run_dir, state["swa_file"]), average, state["swa_done"])
    if os.environ.get(KILL_AFTER_CHECKPOINT_ENV) == str(epoch):
        os.kill(os.getpid(), signal.SIGKILL)
    atomic_write_json(os.path.join(run_dir, STATE), state)
    keep = {state["checkpoint"], state.get("swa_file")}
    for name in os.listdir(run_dir):
        if name not in keep and (name == CHECKPOINT or name == SWA_WEIGHTS
                                 or (name.startswith(("checkpoint-", "swa-")) and name.endswith((".keras", ".npz")))):
            os.remove(os.path.join(run_dir, name))


#: Settings that a resumed run may take from the new ``config`` instead of its
#: own: the length of the run and of its weight-averaging phase (``data`` and
#: ``out`` always come from ``config``).
RESUME_OVERRIDES = ("epochs", "early_stopping_patience", "swa_epochs", "swa_learning_rate")


def train(config, resume=False, force=False, log=print, verbose=1, overrides=RESUME_OVERRIDES):
    """Train a CNN and write its run folder.

    Parameters
    ----------
    config : models.config.TrainingConfig or dict
        The settings (a dict names those that differ from the defaults);
        ``out`` is the run folder. Checked before anything else happens.
    resume : bool, optional
        Continue from the run folder's last checkpoint.
    force : bool, optional
        Start afresh over an existing run folder.
    log : callable, optional
        Receives one line per event.
    verbose : int, optional
        A progress bar through each epoch (1) or none (0); ``log`` gets one
        line per epoch either way.
    overrides : sequence of str, optional
        On resume, the settings of :data:`RESUME_OVERRIDES` taken from
        ``config``; the others keep the run's own values.

    Returns
    -------
    dict
        Final metrics: ``best_epoch``, ``val_accuracy``, ``epochs_run``,
        ``seconds``, ``images_per_second``, ``stopped``.

    Raises
    ------
    TrainingError
    TrainingInterrupted
        On Ctrl-C or SIGTERM, after the last finished epoch is safely
        checkpointed (or at once on a second signal).
    """
    config = as_config(config)
    with _StopOnSignal() as stop:  # from the start: a signal while loading is not lost either
        return _train(config, resume, force, log, verbose, overrides, stop)


def _train(config, resume, force, log, verbose, overrides, stop):
    """:func:`train`'s work, stopped through ``stop`` (a :class:`_StopOnSignal`)."""
    keras = import_keras()
    tf = import_tensorflow()

    run_dir = config.out
    state_path = os.path.join(run_dir, STATE)
    if resume and not os.path.isfile(state_path):
        raise TrainingError(f"{run_dir}: nothing to resume (no {STATE}); start without --resume")
    if not resume and os.path.isfile(state_path) and not force:
        raise TrainingError(f"{run_dir} holds a run already: use --resume to continue it or --force to start afresh")
    if resume:
        state = read_state(state_path)
        # The run's own configuration wins, except where the run is and, if asked, its length.
        keys = ("data", "out", *(k for k in overrides if k in RESUME_OVERRIDES))
        config = TrainingConfig.from_dict(state["config"]).updated(**{k: getattr(config, k) for k in keys})
        state["config"] = config.to_json()
    elif config.init:  # the bundle's architecture and feature set, whoever calls (fer-train sets them already)
        config = fine_tune_config(config, () if config.features == FEATURES.feature_set else ("features",),
                                  schedule=False)
    os.makedirs(run_dir, exist_ok=True)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    train_data, val, standardizer, manifest = load_training_data(config)
    n_classes, classes = len(manifest["classes"]), manifest["classes"]
    feature_dim = train_data["features"].shape[1]
    if config.teacher:
        distil(train_data, config, classes, os.path.join(run_dir, TEACHER_FILE), fresh=not resume, log=log)

    strategy = _strategy(config)
    if strategy is not None:
        log(f"distributing with {type(strategy).__name__} over {strategy.num_replicas_in_sync} replica(s)")
    scope = strategy.scope() if strategy else _NullScope()
    init = None
    with scope:
        if resume:
            model = _load_checkpoint(os.path.join(run_dir, state.get("checkpoint", CHECKPOINT)))
        elif config.init:
            model, init_bundle, init = start_from(config, classes, feature_dim, log)
            differences = init_bundle.spec.differences(train_data["spec"], crop=False)
            if differences:
                raise TrainingError(f"{init_bundle.path}: its feature specification differs from the one "
                                    f"{config.data} was converted with (model vs data: {'; '.join(differences)})")
            init["normalization"] = init_bundle.standardizer.to_json()
            model = with_precision(model, config.precision)
            _compile(model, config)
        else:
            with dtype_policy(config.precision):
                model = build_from_config(config, n_classes, feature_dim, train_data["spec"].image_size)
    if not resume:
        state = {"config": config.to_json(), "epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0,
                 "best_val_loss": float("inf"), "plateau_wait": 0, "stale": 0, "lr_scale": 1.0,
                 "history": [], "seconds": 0.0}
        if init:
            state["init"] = init
        _architecture_png(model, run_dir, log)
    init = state.get("init")
    if init:  # the initial model's standardisation: its weights expect it
        standardizer = Standardizer(init["normalization"]["mean"], init["normalization"]["std"])
        init = {k: v for k, v in init.items() if k != "normalization"}
    state.setdefault("swa_done", 0)  # epochs of weight averaging so far (none in runs older than it)
    state.setdefault("main_stopped", None)
    meta = make_meta("cnn", classes, manifest["class_ids"], train_data["spec"], standardizer, config.to_json(),
                     model=config.model.upper(), parameters=int(model.count_params()),
                     data_sha256=manifest.get("source_sha256"), **({"init": init} if init else {}))
    weights = class_weights(train_data["labels"], n_classes) if config.imbalance == "class_weights" else None

    log(f"training model {config.model.upper()} ({model.count_params():,} parameters) with features "
        f"{config.features!r} on {len(train_data['labels'])} images, validating on {len(val[2])}"
        + (f", resuming after epoch {state['epoch']} of {config.epochs}" if resume else ""))
    swa_path = os.path.join(run_dir, state.get("swa_file", SWA_WEIGHTS))
    average = _load_average(swa_path, state["swa_done"]) if state["swa_done"] else None
    stop.saved_epoch = state["epoch"]
    while True:
        if not state["swa_done"]:  # once averaging has begun, the main phase stays over
            state["main_stopped"] = _main_phase_ended(state, config)
        swa = state["main_stopped"] is not None
        if swa and state["swa_done"] >= config.swa_epochs:
            if state["main_stopped"] == "early stopping" and not state["swa_done"]:
                log(f"early stopping: no better validation accuracy for {state['stale']} epochs")
            break
        if swa and not state["swa_done"]:
            log(f"main phase over ({state['main_stopped']}): {config.swa_epochs} epochs of stochastic "
                f"weight averaging at learning rate {config.swa_learning_rate:.2e}")
        stop.check()  # between epochs: the last finished one is checkpointed
        epoch = state["epoch"]
        if init and is_frozen(model) != (epoch < config.freeze_epochs):  # into or out of the head-only epochs
            with scope:
                set_frozen(model, epoch < config.freeze_epochs)
                _compile(model, config)
            log(f"epoch {epoch + 1}: " + ("training the classification layer only" if is_frozen(model)
                                          else "training every layer"))
        lr = config.swa_learning_rate if swa else scheduled_learning_rate(config, epoch, state["lr_scale"])
        loss, accuracy, seconds = _fit_epoch(model, train_data, config, standardizer, n_classes, epoch, lr,
                                             weights, stop, verbose)
        stop.check()  # an epoch cut short is not kept: --resume runs it again from its start
        if not np.isfinite(loss):
            raise TrainingError(f"training diverged: the loss became NaN in epoch {epoch + 1} "
                                f"(try a lower --learning-rate); the last good epoch is kept in {run_dir}")
        if swa:  # validate (and keep, if best) the average of the SWA epochs so far
            average = average_into(average, model, state["swa_done"])
            evaluated = swapped_weights(model, average)
        else:
            evaluated = contextlib.nullcontext(model)
        with evaluated:
            if swa:
                started = time.perf_counter()
                recompute_batch_norm(model, train_data["images"], train_data["features"], standardizer)
                log(f"averaged {state['swa_done'] + 1} epochs' weights and re-estimated batch norm in "
                    f"{time.perf_counter() - started:.1f} s")
            val_loss, val_acc = _validate(model, val, standardizer, config.batch_size)
            row = {"epoch": epoch + 1, "loss": loss, "accuracy": accuracy, "val_loss": val_loss,
                   "val_accuracy": val_acc, "learning_rate": lr, "seconds": round(seconds, 2),
                   "images_per_second": round(len(train_data["labels"]) / seconds, 1),
                   "swa_models": state["swa_done"] + 1 if swa else 0}
            improved = _track_best(state, row) if swa else _update_schedule(state, config, row)
            if improved:  # the bundle in float32 whatever the run's precision
                save_model(run_dir, with_precision(model, "float32"), "cnn")
                meta["metrics"] = {"val_accuracy": val_acc, "val_loss": val_loss, "best_epoch": epoch + 1,
                                   "swa_models": row["swa_models"]}
                atomic_write_json(os.path.join(run_dir, BUNDLE_JSON), meta)
        state["history"].append(row)
        state["seconds"] += seconds
        state["epoch"] = epoch + 1
        if swa:
            state["swa_done"] += 1
        # Checkpoint last: a crash before the state is written re-runs the epoch.
        with stop.deferred():  # no signal between the files of one epoch
            _write_checkpoint(run_dir, model, state, average if swa else None)
        stop.saved_epoch = state["epoch"]
        _write_progress(run_dir, state["history"])
        log((f"epoch {epoch + 1} (SWA {state['swa_done']}/{config.swa_epochs})" if swa
             else f"epoch {epoch + 1}/{config.epochs}") + f"  loss {loss:.4f}  acc {accuracy:.4f}  "
            f"val_loss {val_loss:.4f}  val_acc {val_acc:.4f}  lr {lr:.2e}  {seconds:.1f} s  "
            f"{row['images_per_second']:.0f} img/s" + ("  *best*" if improved else ""))

    if state["history"] and not os.path.isfile(os.path.join(run_dir, CURVES)):
        _write_progress(run_dir, state["history"])  # resumed with no epoch left, from an older version
    final = {"best_epoch": state["best_epoch"], "val_accuracy": state["best_val_accuracy"],
             "epochs_run": state["epoch"], "seconds": round(state["seconds"], 1),
             "images_per_second": round(np.median([h["images_per_second"] for h in state["history"]]), 1)
             if state["history"] else 0.0, "stopped": state["main_stopped"], "swa_epochs": state["swa_done"]}
    return final


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def finish_run(run_dir, data_dir, final, log=print):
    """Evaluate the best model on PublicTest and record the metrics in the bundle.

    Writes ``classification_report.csv`` and ``confusion_matrix.png`` into the
    run folder and adds the figures to ``bundle.json``.
    """
    from .evaluate import evaluate

    result = evaluate([run_dir], data_dir, "PublicTest", out_dir=run_dir)
    meta_path = os.path.join(run_dir, BUNDLE_JSON)
    with open(meta_path) as f:
        meta = json.load(f)
    meta["metrics"].update(final)
    meta["metrics"]["PublicTest"] = {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}
    meta["toolkit_version"] = VERSION
    atomic_write_json(meta_path, meta)
    best = f"best epoch {final['best_epoch']}: " if "best_epoch" in final else ""
    log(f"{best}PublicTest accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f}; bundle in {run_dir}")
    return result


def train_svm(config, force=False, log=print):
    """Train the SVM baseline and write a bundle like the CNN's.

    Parameters
    ----------
    config : models.config.TrainingConfig or dict
        Training configuration (``features``, ``svm_*`` settings, ``data``, ``out``).
    force : bool, optional
        Replace an existing run folder.

    Returns
    -------
    dict
        ``val_accuracy``, ``seconds`` (fit time).
    """
    from .svm import build_svm

    config = as_config(config)
    if config.features == "none":
        raise TrainingError("the SVM needs a feature set: landmarks, landmarks_hog or landmarks_hog_windows")
    run_dir = config.out
    if os.path.exists(os.path.join(run_dir, "bundle.json")) and not force:
        raise TrainingError(f"{run_dir} holds a run already: use --force to replace it")
    train_data, val, standardizer, manifest = load_training_data(config)
    x = standardizer(train_data["features"])
    model = build_svm(config.svm_kernel, config.svm_c, config.svm_gamma, config.svm_components,
                      config.svm_max_iter, x.shape[1], config.seed)
    log(f"training {config.svm_kernel} SVM on {len(x)} rows of {x.shape[1]} features")
    started = time.perf_counter()
    model.fit(x, train_data["labels"])
    seconds = time.perf_counter() - started
    val_acc = float(np.mean(model.predict(standardizer(val[1])) == val[2]))
    log(f"fitted in {seconds:.1f} s; PublicTest accuracy {val_acc:.4f}")
    meta = make_meta("svm", manifest["classes"], manifest["class_ids"], train_data["spec"], standardizer,
                     config.to_json(), model="svm", data_sha256=manifest.get("source_sha256"))
    meta["metrics"] = {"val_accuracy": val_acc, "fit_seconds": round(seconds, 1)}
    save_bundle(run_dir, model, meta)
    final = {"val_accuracy": val_acc, "seconds": round(seconds, 1)}
    finish_run(run_dir, config.data, final, log=log)
    return final
