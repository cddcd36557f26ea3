"""Conversion of FER-2013 into pixels, landmarks, HOG and sliding-window HOG."""

from .conversion import ConversionError, convert
from .extract import extract_features, feature_dimensions, stack_features
from .io import DataError, load_arrays, load_manifest, load_split

__all__ = [
    "ConversionError",
    "DataError",
    "convert",
    "extract_features",
    "feature_dimensions",
    "load_arrays",
    "load_manifest",
    "load_split",
    "stack_features",
]
