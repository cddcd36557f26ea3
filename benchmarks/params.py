"""Parameter count of every model/feature-set configuration (default settings),
and of the shipped FER-2013 model (``models/pretrained/fer2013``).

    python benchmarks/params.py
"""


def main():
    from fer_toolkit.features.spec import FeatureSpec
    from fer_toolkit.models.cnn import build_model
    from fer_toolkit.parameters import FEATURE_SETS

    dims = FeatureSpec().dimensions()
    print("| model | features | feature dim | parameters |")
    print("| --- | --- | ---: | ---: |")
    for kind in "AB":
        for feature_set, names in FEATURE_SETS.items():
            dim = sum(dims[n] for n in names)
            print(f"| {kind} | {feature_set} | {dim} | {build_model(kind, 7, dim).count_params():,} |")
    # The shipped FER-2013 model, built from its own bundle's training arguments.
    from fer_toolkit.models.bundle import load_bundle
    from fer_toolkit.models.bundle import FER2013_MODEL

    shipped = load_bundle(FER2013_MODEL).meta
    args, feature_set = shipped["train_args"], shipped["feature_set"]
    kind = args["model"]
    filters = args[f"filters_{kind.lower()}"]
    dim = sum(dims[n] for n in FEATURE_SETS[feature_set])
    wide = build_model(kind, len(shipped["classes"]), dim, filters=tuple(filters))
    print(f"| {kind}, `--filters-{kind.lower()} {','.join(map(str, filters))}` | {feature_set} | {dim} "
          f"| {wide.count_params():,} |")

if __name__ == "__main__":
    main()
