#!/usr/bin/env python3
"""Write models/labels/imagenet1k.txt from a torchvision wheel, offline.

The 1000 ImageNet-1k class names, in the standard index order (sorted WordNet ids, as
torchvision and timm use them), one per line, are taken from ``_IMAGENET_CATEGORIES`` in
``torchvision/models/_meta.py`` inside the wheel. The wheel is read as a zip file and the
list is parsed with ``ast`` (literal evaluation only): torchvision is neither installed nor
imported, so no torch is needed.

Usage::

    python3 -m pip download --no-deps torchvision -d /tmp/tv
    python3 tools/make_imagenet_labels.py /tmp/tv/torchvision-*.whl [-o models/labels/imagenet1k.txt]

The script checks the result (exactly 1000 names, known names at indices 0, 1, 207, 281,
999, no empty or multi-line names) and prints the torchvision version it came from.
"""

import argparse
import ast
import re
import sys
import zipfile
from pathlib import Path

META_PATH = "torchvision/models/_meta.py"
VARIABLE = "_IMAGENET_CATEGORIES"
EXPECTED = {0: "tench", 1: "goldfish", 207: "golden retriever", 281: "tabby", 999: "toilet tissue"}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "models" / "labels" / "imagenet1k.txt"


def wheel_version(wheel: zipfile.ZipFile) -> str:
    for name in wheel.namelist():
        if re.fullmatch(r"torchvision-[^/]+\.dist-info/METADATA", name):
            for line in wheel.read(name).decode("utf-8").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    return "unknown"


def read_categories(wheel_path: Path) -> tuple[list[str], str]:
    with zipfile.ZipFile(wheel_path) as wheel:
        source = wheel.read(META_PATH).decode("utf-8")
        version = wheel_version(wheel)
    tree = ast.parse(source, filename=META_PATH)
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == VARIABLE for t in targets):
            return list(ast.literal_eval(value)), version
    raise SystemExit(f"{VARIABLE} not found in {META_PATH} of {wheel_path}")


def check(names: list[str]) -> None:
    if len(names) != 1000:
        raise SystemExit(f"expected 1000 names, got {len(names)}")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip() or name != name.strip() or "\n" in name or "\r" in name:
            raise SystemExit(f"bad name at index {i}: {name!r}")
    for index, want in EXPECTED.items():
        if names[index] != want:
            raise SystemExit(f"index {index}: expected {want!r}, got {names[index]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="path to a torchvision-*.whl")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    names, version = read_categories(args.wheel)
    check(names)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("".join(name + "\n" for name in names), encoding="utf-8")
    checks = ", ".join(f"{i}={names[i]!r}" for i in EXPECTED)
    print(f"wrote {len(names)} names from torchvision {version} ({args.wheel.name}) to {args.output}; {checks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
