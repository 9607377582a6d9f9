"""A stand-in external tool for the tests: what it does is the first argument.

emit N [PREFIX]      print N JSON records {"name", "n", "tags"}; progress on stderr
emit_then_exit N C   print N records, then exit with code C
mixed                valid records mixed with garbage, a wrong type and an unknown field
sleep S              sleep S seconds
ignore_term S        ignore SIGTERM, then sleep S seconds
hog MB [S]           allocate MB at once (and touch it), then sleep S seconds (default 2)
grow MB              allocate MB in 10 MB steps, slowly
fork_hog K MB [S]    fork K children that each hold MB for S seconds (default 10), then wait
exit CODE [MSG]      print MSG on stderr and exit with CODE
orphan               leave a sleeping grandchild behind and exit 0
stamp DIR S [NAME]   write start and end times to DIR/NAME (or DIR/<pid>), sleeping S seconds between
echo ARG...          print the arguments as one JSON record {"argv": [...]}
escape HOW TAG       leave a child behind that detached (HOW: setsid, setpgid, double_fork, daemon,
                     nohup), print one record and exit 0; the child prints a "late" record later
linger TAG           (the escaped child) sleep 1 s, print a "late" record, sleep 60 s
steps MB STEP [S]    allocate MB in STEP MB steps, as fast as it can, then sleep S seconds (default 2)
flood MB             print MB megabytes on stdout without a newline
"""

import json
import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    what = argv[0]
    if what == "emit":
        n = int(argv[1])
        prefix = argv[2] if len(argv) > 2 else "r"
        for i in range(n):
            print(json.dumps({"name": f"{prefix}{i}", "n": i, "tags": ["a", "b"] if i % 2 else []}))
            if i % 1000 == 0:
                print(f"{i}/{n}", file=sys.stderr, flush=True)
        return 0
    if what == "emit_then_exit":
        for i in range(int(argv[1])):
            print(json.dumps({"name": f"x{i}", "n": i, "tags": []}), flush=True)
        return int(argv[2])
    if what == "mixed":
        print(json.dumps({"name": "good0", "n": 0, "tags": []}))
        print("this is not json")
        print(json.dumps({"name": "bad_type", "n": "three", "tags": []}))
        print(json.dumps({"name": "extra", "n": 1, "tags": [], "color": "red"}))
        print(json.dumps({"n": 5, "tags": []}))  # name missing: it is required
        print(json.dumps({"name": "good1", "n": 2, "tags": None}))
        print(json.dumps([1, 2]))
        return 0
    if what == "sleep":
        time.sleep(float(argv[1]))
        return 0
    if what == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", file=sys.stderr, flush=True)
        time.sleep(float(argv[1]))
        return 0
    if what == "hog":
        block = bytearray(int(argv[1]) << 20)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(float(argv[2]) if len(argv) > 2 else 2)
        return 0
    if what == "grow":
        held = []
        for _ in range(int(argv[1]) // 10):
            chunk = bytearray(10 << 20)
            chunk[::4096] = b"x" * len(chunk[::4096])
            held.append(chunk)
            time.sleep(0.02)
        return 0
    if what == "fork_hog":
        kids = []
        for _ in range(int(argv[1])):
            pid = os.fork()
            if pid == 0:
                block = bytearray(int(argv[2]) << 20)
                block[::4096] = b"x" * len(block[::4096])
                time.sleep(float(argv[3]) if len(argv) > 3 else 10)
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        return 0
    if what == "exit":
        if len(argv) > 2:
            print(argv[2], file=sys.stderr)
        return int(argv[1])
    if what == "orphan":
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        print(json.dumps({"name": "parent", "n": os.getpid(), "tags": []}))
        return 0
    if what == "stamp":
        start = time.time()
        time.sleep(float(argv[2]))
        name = argv[3] if len(argv) > 3 else str(os.getpid())
        with open(os.path.join(argv[1], name), "w") as fh:
            fh.write(f"{start} {time.time()}")
        return 0
    if what == "echo":
        print(json.dumps({"argv": argv[1:]}))
        return 0
    if what in ("escape", "linger", "steps", "flood"):
        return more(what, argv[1:])
    print(f"unknown mode {what}", file=sys.stderr)
    return 2


def linger(tag: str) -> None:
    time.sleep(1.0)
    print(json.dumps({"name": f"late-{tag}", "n": os.getpid(), "tags": []}), flush=True)
    time.sleep(60)


def escape(how: str, tag: str) -> None:
    """Leave a process behind that left the task's session, group or tree."""
    if how == "nohup":
        import subprocess

        subprocess.Popen(["nohup", sys.executable, __file__, "linger", tag], start_new_session=True)
        return
    if os.fork() != 0:
        return
    if how == "setsid":
        os.setsid()
    elif how == "setpgid":
        os.setpgid(0, 0)
    elif how in ("double_fork", "daemon"):
        if how == "daemon":
            os.setsid()
        if os.fork() != 0:
            os._exit(0)
    sys.argv = [__file__, "linger", tag]  # the command line names the tag (for the test's search)
    os.execv(sys.executable, [sys.executable, __file__, "linger", tag])


def more(what: str, args: list[str]) -> int:
    if what == "escape":
        escape(args[0], args[1])
        time.sleep(0.1)  # the child has detached before the task ends
        print(json.dumps({"name": "main", "n": os.getpid(), "tags": []}), flush=True)
        return 0
    if what == "linger":
        linger(args[0])
        return 0
    if what == "steps":
        held = []
        for _ in range(int(args[0]) // int(args[1])):
            chunk = bytearray(int(args[1]) << 20)
            chunk[::4096] = b"x" * len(chunk[::4096])
            held.append(chunk)
        time.sleep(float(args[2]) if len(args) > 2 else 2)
        return 0
    block = b"x" * (1 << 20)
    for _ in range(int(args[0])):
        sys.stdout.buffer.write(block)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
