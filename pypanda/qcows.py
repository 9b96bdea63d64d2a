"""pandare's ``qcows``: the generic guests and the constructor each means.

``python -m pypanda.qcows [NAME]`` lists the generic guests, or prints the
equivalent ``Panda(...)`` arguments of one, as pandare's ``python -m
pandare.qcows NAME`` does; an unknown name lists what there is.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from .guest import BUILDERS
from .panda import GENERIC_ARCH, _generic_args, guest_dir

def resolve(name: str) -> str:
    """A generic name -> pypanda's guest name (pandare's "i386" is the
    same name; its other architectures' guests are not here yet)."""
    if name not in BUILDERS:
        raise SystemExit(f"unknown generic guest {name!r}: pypanda has {', '.join(sorted(BUILDERS))}")
    return name


def describe(name: str) -> str:
    """The constructor and the files behind generic guest ``name``."""
    name = resolve(name)
    where = guest_dir(name)
    lines = [f"Panda(generic={name!r})  # arch={GENERIC_ARCH.get(name, name)!r}", f"  guest files: {where}"]
    try:
        args, prompt = _generic_args(name)
    except Exception as exc:       # not built yet: say how
        lines.append(f"  not built: {exc}")
        return "\n".join(lines)
    lines.append(f"  equivalent: Panda(arch={GENERIC_ARCH.get(name, name)!r}, extra_args={args!r}, "
                 f"expect_prompt={prompt!r})")
    roots = sorted(where.glob("root-*.snap"))
    where_root = str(roots[-1]) if roots else "made by the first revert_sync('root')"
    lines.append(f"  root snapshot: {where_root}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        for name in sorted(BUILDERS):
            print(describe(name))
        return 0
    for name in args:
        print(describe(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
