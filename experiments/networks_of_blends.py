"""The networks of blended classifier files, without their trees (to score a blend's networks alone).

    python experiments/networks_of_blends.py src/ccsnscore/pretrained outputs/shipped_networks
    python -m ccsnscore.evaluate "models=[outputs/shipped_networks]" "cases=[S,SL,SD,SLD]" \
        output_dir=experiments/reports/networks_only

Every ``<layer>/<case>/<class>.pt`` under SOURCE (the observed-frame folder left out) is written to
the same place under DEST: a network + tree blend as its network alone
(:func:`ccsnscore.model.checkpoints.replace_network`, everything else the file records kept), any
other classifier unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccsnscore.model.checkpoints import export_classifier, load_classifier, replace_network
from ccsnscore.model.network import BlendedClassifier


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a model folder (<layer>/<case>/<class>.pt)")
    parser.add_argument("dest", type=Path, help="where the networks go (same layout)")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.source.rglob("*.pt") if "observed-frame" not in p.relative_to(args.source).parts)
    if not files:
        parser.error(f"no classifier files under {args.source}")
    for path in files:
        target = args.dest / path.relative_to(args.source)
        target.parent.mkdir(parents=True, exist_ok=True)
        model = load_classifier(path)
        if isinstance(model, BlendedClassifier):
            note = {"networks_of_blend": f"the network of {path.relative_to(args.source)} without its trees"}
            replace_network(path, target, model.network, training_note=note)
            print(f"{target}: network alone")
        else:
            export_classifier(path, target, args.source)
            print(f"{target}: unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
