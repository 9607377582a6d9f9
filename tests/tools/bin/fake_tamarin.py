#!/usr/bin/env python3
"""A stand-in for tamarin-prover (which cannot be installed here): same argv, same output format.

It reads ``--prove=LEMMA`` and the theory, and answers from the lemma's name: ``*_false`` is
falsified, ``*_loop`` never ends, ``*_hog`` allocates 1 GB, ``*_crash`` exits 1; anything else is
verified. It prints the closing summary Tamarin prints, with every other lemma of the theory as
``analysis incomplete``, and logs its argv to $FAKE_TAMARIN_LOG when set.
"""

import json
import os
import re
import sys
import time


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_TAMARIN_LOG"):
        with open(os.environ["FAKE_TAMARIN_LOG"], "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    rts = argv.index("+RTS") if "+RTS" in argv else -1
    args = argv[argv.index("-RTS") + 1 :] if rts >= 0 else argv
    lemma = next(a.split("=", 1)[1] for a in args if a.startswith("--prove="))
    theory = [a for a in args if not a.startswith("-")][-1]
    with open(theory) as fh:
        text = fh.read()
    names = re.findall(r"^lemma\s+(\w+)", text, re.M)
    print("[Theory Fake] Theory loaded", file=sys.stderr, flush=True)
    if lemma.endswith("_loop"):
        time.sleep(60)
    if lemma.endswith("_hog"):
        block = bytearray(1 << 30)
        block[::4096] = b"x" * len(block[::4096])
    if lemma.endswith("_crash"):
        print("tamarin-prover: internal error", file=sys.stderr)
        return 1
    print(text)
    print("=" * 78)
    print("summary of summaries:\n")
    print(f"analyzed: {theory}\n")
    print("  processing time: 0.05s\n")
    for name in names:
        if name != lemma:
            print(f"  {name} (all-traces): analysis incomplete (1 steps)")
        elif name.endswith("_false"):
            print(f"  {name} (all-traces): falsified - found trace (3 steps)")
        else:
            print(f"  {name} (all-traces): verified (4 steps)")
    print("\n" + "=" * 78)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
