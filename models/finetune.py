"""Fine-tuning: training that starts from a model bundle (``fer-train --init``).

The new run takes the bundle's weights, architecture, feature set and
feature standardisation; when the data's class set differs from the
bundle's, the classification layer is replaced (classes of the same name
keep their weights) and the rest kept. ``freeze_epochs`` first trains the
classification layer alone.
"""

import os
from dataclasses import fields

from ..parameters import FINE_TUNING, Network

from .backend import import_keras
from .bundle import BundleError, is_shipped, load_bundle, read_meta, resolve_model
from .ensemble import ensemble_members, first_member, member_meta

#: The name of the classification layer of the CNN builders (:func:`models.cnn.fusion_head`).
HEAD = "probabilities"


def check_init(meta, path):
    """Refuse, in one line, a bundle that ``--init`` cannot start from (an SVM)."""
    if meta["kind"] != "cnn":
        raise BundleError(f"{path}: --init needs a CNN bundle (model A or B), not an SVM")


def fine_tune_config(config, given=(), schedule=True):
    """The configuration of a run that starts from ``config.init``.

    The architecture settings and the feature set are the bundle's (its model
    file is used as it is; these make the run's record say so), and the
    schedule settings of ``parameters.FINE_TUNING`` replace the defaults of
    those not in ``given``.

    Parameters
    ----------
    config : models.config.TrainingConfig
    given : collection of str
        Settings the user chose explicitly.
    schedule : bool, optional
        Also apply ``parameters.FINE_TUNING`` (False: the architecture and feature set only).

    Returns
    -------
    models.config.TrainingConfig

    Raises
    ------
    BundleError
        No such bundle, not a CNN, or a feature set that contradicts an explicit ``features``.
    """
    path = resolve_model(config.init)  # a shipped model's name, or a bundle folder
    meta = member_meta(read_meta(path))  # an ensemble bundle: its first network
    check_init(meta, path)
    if "features" in given and config.features != meta["feature_set"]:
        raise BundleError(f"{path}: --init's model uses the feature set {meta['feature_set']!r}, "
                          f"not {config.features!r} (leave --features out)")
    args = meta.get("train_args") or {}
    network = {f.name for f in fields(Network)}
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if k in network and k != "model"}
    changes.update(model=meta.get("model") or args.get("model", config.model), features=meta["feature_set"])
    if schedule:
        changes.update({k: v for k, v in vars(FINE_TUNING).items() if k not in given})
    return config.updated(**changes)


def replace_head(model, classes, new_classes, seed):
    """A model whose classification layer gives ``new_classes``.

    Columns of classes that both sets name keep their weights; the others
    start from Keras' initialisation. The model is returned as it is when
    the class lists are equal.

    Parameters
    ----------
    model : keras.Model
    classes : sequence of str
        The model's classes.
    new_classes : sequence of str
    seed : int
        Seed of the new layer's initialisation.

    Returns
    -------
    model : keras.Model
    kept : list of str
        Classes whose weights were kept.
    """
    keras = import_keras()

    if list(classes) == list(new_classes):
        return model, list(classes)
    old = model.get_layer(HEAD)
    head = keras.layers.Dense(len(new_classes), activation="softmax", dtype="float32", name=HEAD,
                              kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
    outputs = head(old.input)
    kernel, bias = (w.numpy() for w in old.weights)
    new_kernel, new_bias = (w.numpy() for w in head.weights)
    lowered = [c.lower() for c in classes]
    kept = []
    for j, name in enumerate(new_classes):
        if name.lower() in lowered:
            i = lowered.index(name.lower())
            new_kernel[:, j], new_bias[j] = kernel[:, i], bias[i]
            kept.append(name)
    head.set_weights([new_kernel, new_bias])
    return keras.Model(model.inputs, outputs, name=model.name), kept


def is_frozen(model):
    """Whether only the classification layer of a model trains."""
    return any(not layer.trainable for layer in model.layers if layer.weights and layer.name != HEAD)


def set_frozen(model, frozen):
    """Freeze (or unfreeze) every layer but the classification layer.

    Frozen batch-norm layers run in inference mode (Keras 3). The caller
    compiles the model again, with a new optimizer.
    """
    for layer in model.layers:
        if layer.name != HEAD:
            layer.trainable = not frozen


def start_from(config, classes, feature_dim, log=print):
    """The initial model of a fine-tuning run, and what the bundle records about it.

    Parameters
    ----------
    config : models.config.TrainingConfig
        With ``init`` set.
    classes : sequence of str
        The data's classes.
    feature_dim : int
        The data's feature width for the feature set.

    Returns
    -------
    model : keras.Model
        Not compiled.
    bundle : models.bundle.Bundle
        The initial bundle (its standardisation is the run's).
    record : dict
        ``init`` of the new ``bundle.json``.

    Raises
    ------
    BundleError
    """
    path = resolve_model(config.init)  # a shipped model's name, or a bundle folder
    whole = load_bundle(path)
    check_init(whole.meta, path)
    bundle = first_member(whole)  # an ensemble bundle's first network; a single network as it is
    if len(bundle.standardizer.mean) != feature_dim:
        raise BundleError(f"{path}: the model takes {len(bundle.standardizer.mean)} features, the data give "
                          f"{feature_dim} for {config.features!r}")
    model, kept = replace_head(bundle.model, bundle.classes, classes, config.seed)
    head = "kept" if model is bundle.model else "replaced"
    name = config.init if is_shipped(path) else os.path.abspath(path)
    members = ensemble_members(whole.meta)
    described = (f"{name}'s first network ({members[0].get('from', '?')}, of an ensemble of {len(members)})"
                 if members else name)
    log(f"starting from {described} (classes {', '.join(bundle.classes)}): "
        + ("classification layer kept" if head == "kept" else
           f"classification layer replaced for {', '.join(classes)} ({len(kept)} class(es) keep their weights)"))
    record = {"from": name, "classes": bundle.classes,
              "head": head, "classes_kept": kept, "freeze_epochs": config.freeze_epochs,
              "data_sha256": bundle.meta.get("data_sha256"),
              "val_accuracy": bundle.meta.get("metrics", {}).get("val_accuracy")}
    if members:
        record["ensemble_member"] = members[0].get("from")
    return model, bundle, record
