"""Parameter count of every model/feature-set configuration (default settings),
and of the shipped model's wider model B.

    python benchmarks/params.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WIDE_FILTERS = (64, 128, 256, 256)


def main():
    from features.extract import feature_dimensions
    from models.cnn import build_model
    from parameters import FEATURE_SETS

    dims = feature_dimensions()
    print("| model | features | feature dim | parameters |")
    print("| --- | --- | ---: | ---: |")
    for kind in "AB":
        for feature_set, names in FEATURE_SETS.items():
            dim = sum(dims[n] for n in names)
            print(f"| {kind} | {feature_set} | {dim} | {build_model(kind, 7, dim).count_params():,} |")
    # The shipped model: model B with twice the default filters at the first three scales.
    dim = sum(dims[n] for n in FEATURE_SETS["landmarks_hog_windows"])
    wide = build_model("B", 7, dim, filters=WIDE_FILTERS)
    print(f"| B, `--filters-b {','.join(map(str, WIDE_FILTERS))}` | landmarks_hog_windows | {dim} "
          f"| {wide.count_params():,} |")


if __name__ == "__main__":
    main()
