"""Thin wrapper: `python scripts/train.py --config core/configs/default.yaml [--resume runs/default/last.pt]`
is `convlstm train ...`."""
import sys

from convlstm.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
