"""CNN model A (shallow) and model B (deep, batch norm), each fused with a
branch on handcrafted features (landmarks, HOG, sliding-window HOG).

Both builders take their configuration as arguments and return a Keras
functional ``Model`` with inputs ``image`` (48, 48, 1) uint8-valued floats and,
when a feature set is used, ``features`` (D,) standardised floats. The feature
branch and the fusion head are written once and shared.
"""

from ..parameters import EMOTIONS, FEATURES, NETWORK
from .backend import import_keras

keras = import_keras()
layers = keras.layers


def _dense_block(x, units, activation, batch_norm, dropout, name):
    """Dense, optional batch norm, activation, optional dropout."""
    x = layers.Dense(units, use_bias=not batch_norm, name=f"{name}_dense")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation(activation, name=f"{name}_act")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    return x


def _conv_block(x, filters, activation, batch_norm, name):
    """3x3 convolution, optional batch norm, activation."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_act")(x)


def feature_branch(features, units=NETWORK.feature_units, activation=NETWORK.activation,
                   batch_norm=NETWORK.batch_norm_dense, dropout=1 - NETWORK.keep_prob):
    """A small dense network on the handcrafted features.

    Parameters
    ----------
    features : KerasTensor
        Standardised feature vector.
    units : tuple of int
        Width of each dense layer.

    Returns
    -------
    KerasTensor
        The feature embedding.
    """
    x = features
    for i, width in enumerate(units):
        x = _dense_block(x, width, activation, batch_norm, dropout / 2 if i == 0 else dropout, f"feat{i + 1}")
    return x


def fusion_head(image_embedding, feature_embedding, n_classes, units=NETWORK.fusion_units,
                activation=NETWORK.activation, batch_norm=NETWORK.batch_norm_dense,
                dropout=1 - NETWORK.keep_prob):
    """Concatenate the embeddings and classify.

    Parameters
    ----------
    image_embedding : KerasTensor
    feature_embedding : KerasTensor or None
        None for an image-only model.
    n_classes : int

    Returns
    -------
    KerasTensor
        Class probabilities (softmax).
    """
    x = image_embedding
    if feature_embedding is not None:
        x = layers.Concatenate(name="fusion")([image_embedding, feature_embedding])
    x = _dense_block(x, units, activation, batch_norm, dropout, "head")
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)


def _image_input(image_size):
    image = keras.Input((image_size, image_size, 1), name="image")
    return image, layers.Rescaling(1.0 / 255, name="scale")(image)


def image_branch_a(x, filters=NETWORK.filters_a, activation=NETWORK.activation,
                   batch_norm=False, units=NETWORK.image_units, dropout=1 - NETWORK.keep_prob):
    """Shallow image branch: one convolution per scale, max pooling, global pooling.

    Parameters
    ----------
    x : KerasTensor
        Scaled image.
    filters : tuple of int
        Filters of each scale.

    Returns
    -------
    KerasTensor
        Image embedding.
    """
    for i, f in enumerate(filters):
        x = _conv_block(x, f, activation, batch_norm, f"a{i + 1}")
        x = layers.MaxPooling2D(2, name=f"a{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return _dense_block(x, units, activation, False, dropout, "img")


def image_branch_b(x, filters=NETWORK.filters_b, activation=NETWORK.activation,
                   batch_norm=NETWORK.batch_norm_conv, units=NETWORK.image_units,
                   dropout=1 - NETWORK.keep_prob, spatial_dropout=NETWORK.spatial_dropout):
    """Deep image branch: two convolutions per scale with batch norm, pooling
    between scales, light spatial dropout, global average pooling.

    Parameters
    ----------
    x : KerasTensor
        Scaled image.
    filters : tuple of int
        Filters of each scale.
    spatial_dropout : float
        Rate of the spatial dropout after each pooling (0: none).

    Returns
    -------
    KerasTensor
        Image embedding.
    """
    for i, f in enumerate(filters):
        x = _conv_block(x, f, activation, batch_norm, f"b{i + 1}a")
        x = _conv_block(x, f, activation, batch_norm, f"b{i + 1}b")
        if i < len(filters) - 1:
            x = layers.MaxPooling2D(2, name=f"b{i + 1}_pool")(x)
            if spatial_dropout:
                x = layers.SpatialDropout2D(spatial_dropout, name=f"b{i + 1}_sdrop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return _dense_block(x, units, activation, batch_norm, dropout, "img")


def build_model(model=NETWORK.model, n_classes=len(EMOTIONS), feature_dim=0, image_size=FEATURES.image_size,
                filters=None, activation=NETWORK.activation, keep_prob=NETWORK.keep_prob,
                batch_norm_conv=NETWORK.batch_norm_conv, batch_norm_dense=NETWORK.batch_norm_dense,
                image_units=NETWORK.image_units, feature_units=NETWORK.feature_units,
                fusion_units=NETWORK.fusion_units, spatial_dropout=NETWORK.spatial_dropout):
    """Build model A or B, fused with a feature branch when ``feature_dim > 0``.

    Parameters
    ----------
    model : {"A", "B"}
        Shallow (A) or deep with batch norm (B).
    n_classes : int
    feature_dim : int
        Length of the feature vector; 0 for an image-only model.
    image_size : int
    filters : tuple of int, optional
        Filters per scale (default: ``parameters.NETWORK.filters_a`` / ``filters_b``).
    activation : str
    keep_prob : float
        Keep probability of the dense layers' dropout.
    batch_norm_conv, batch_norm_dense : bool
        Batch norm after convolutions (model B; model A never has it) and after
        dense layers.
    image_units, feature_units, fusion_units : int, tuple of int, int
        Layer widths.
    spatial_dropout : float
        Model B's spatial dropout after each pooling.

    Returns
    -------
    keras.Model
    """
    model = model.upper()
    if model not in ("A", "B"):
        raise ValueError(f"unknown model {model!r} (choose A or B)")
    dropout = 1.0 - keep_prob
    image, x = _image_input(image_size)
    if model == "A":
        embedding = image_branch_a(x, filters or NETWORK.filters_a, activation, False, image_units, dropout)
    else:
        embedding = image_branch_b(x, filters or NETWORK.filters_b, activation, batch_norm_conv,
                                   image_units, dropout, spatial_dropout)
    inputs = [image]
    feature_embedding = None
    if feature_dim:
        features = keras.Input((feature_dim,), name="features")
        inputs.append(features)
        feature_embedding = feature_branch(features, feature_units, activation, batch_norm_dense, dropout)
    outputs = fusion_head(embedding, feature_embedding, n_classes, fusion_units, activation,
                          batch_norm_dense, dropout)
    return keras.Model(inputs, outputs, name=f"model_{model.lower()}")


def build_model_a(n_classes=len(EMOTIONS), feature_dim=0, **kwargs):
    """Model A (shallow); see :func:`build_model`."""
    return build_model("A", n_classes, feature_dim, **kwargs)


def build_model_b(n_classes=len(EMOTIONS), feature_dim=0, **kwargs):
    """Model B (deep, batch norm); see :func:`build_model`."""
    return build_model("B", n_classes, feature_dim, **kwargs)
