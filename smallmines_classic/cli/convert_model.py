"""``smallmines convert-model``: a forest file to a compact forest file for inference, or a trusted pickle (format 1)
to the current format."""

from . import options


def register(subparsers):
    p = options.add_command(
        subparsers, "convert-model",
        "write a compact forest file for inference, or convert a trusted pickle model file",
        ["smallmines convert-model rf.skops -o rf_compact.safetensors",
         "smallmines convert-model rf_0_1.joblib -o rf.skops --trust"],
        "A compact forest file holds only what prediction needs (the packed trees, the bands, the feature recipe and "
        "the training statistics): a fraction of the .skops file's size, loaded many times faster, with the same "
        "maps; predict, monitor and the other commands read it like any model file. Keep the .skops file: it is the "
        "training artefact, and the only one that predicts with --engine sklearn or nvforest.")
    p.add_argument("old", help="the forest file (.skops), or with --trust the pickle or joblib model file")
    options.output(p, "the model file to write: the compact forest file (.safetensors), or with --trust the model "
                   "file (.skops for a forest, .safetensors for a deep model)", positional=True)
    p.add_argument("--trust", action="store_true", help="convert a pickle or joblib file: reading a pickle runs any "
                   "code it holds; give it only for a file whose origin you trust")
    return p


def run(args):
    if args.trust:
        from ..models.persistence import FULL_FORMAT_VERSION, convert_legacy_model

        out = convert_legacy_model(args.old, args.out, trust=True)
        print(f"converted {args.old} to {out} (model file format {FULL_FORMAT_VERSION})")
        return
    from pathlib import Path

    from ..models.compact import convert_to_compact

    out = convert_to_compact(args.old, args.out)
    old_size, new_size = Path(args.old).stat().st_size, out.stat().st_size
    print(f"wrote the compact forest file {out}: {new_size / 2**20:.1f} MiB, {new_size / old_size:.0%} of {args.old}")
