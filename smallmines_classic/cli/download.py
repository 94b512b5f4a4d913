"""``smallmines download``: the SmallMinesDS dataset from the Hugging Face Hub, unpacked."""

from . import options


def register(subparsers):
    p = options.add_command(subparsers, "download", "download SmallMinesDS from the Hugging Face Hub and unpack it",
                            ["smallmines download", "smallmines download -o data/SmallMinesDS",
                             "smallmines download -o SmallMinesDS --hub-cache /scratch/hf"],
                            details="The archive goes to the Hugging Face cache: an interrupted download "
                                    "resumes when the command is run again, and the Hub's sizes and checksums are "
                                    "checked. It is then unpacked into -o/--out, which holds the year folders and the "
                                    "official split files afterwards (or nothing, if the command stops): pass that "
                                    "folder to train, evaluate and load_smallminesds.")
    options.output(p, "new or empty folder to unpack the dataset into; like every command that writes, the output is "
                   "given as -o/--out (default: SmallMinesDS)", default="SmallMinesDS")
    p.add_argument("--revision", help="branch, tag or commit of the dataset repository (default: main)")
    p.add_argument("--hub-cache", metavar="FOLDER", help="Hugging Face cache to download into and resume from "
                   "(default: the hub's, HF_HUB_CACHE or ~/.cache/huggingface/hub)")
    return p


def run(args):
    from ..io.download import REPO_ID, download_smallminesds

    root = download_smallminesds(args.out, revision=args.revision, cache_dir=args.hub_cache, progress=not args.quiet)
    print(f"downloaded {REPO_ID} to {root}; give that folder to smallmines train and evaluate, or to "
          "load_smallminesds")
