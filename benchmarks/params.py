"""Parameter count of every model/feature-set configuration (default settings).

    python benchmarks/params.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


if __name__ == "__main__":
    main()
