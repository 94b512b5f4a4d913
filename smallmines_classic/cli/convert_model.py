"""``smallmines convert-model``: a pickle/joblib model file (format 1) you trust, to the current format."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "convert-model", "convert a pickle/joblib model file (format 1) you trust to "
                            "the current format", ["smallmines convert-model rf_0_1.joblib -o rf.skops --trust"])
    p.add_argument("old", help="the pickle or joblib model file")
    options.output(p, "the model file to write (.skops for a forest, .safetensors for a deep model)", positional=True)
    p.add_argument("--trust", action="store_true", help="required: reading a pickle runs any code it holds; give it "
                   "only for a file whose origin you trust")
    return p


def run(args):
    from ..models.persistence import FORMAT_VERSION, convert_legacy_model

    out = convert_legacy_model(args.old, args.out, trust=args.trust)
    print(f"converted {args.old} to {out} (model file format {FORMAT_VERSION})")
