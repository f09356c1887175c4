"""Instructions per relayed message (or per routed chat) on the event loop,
counted by callgrind: the figure to compare two versions of the hot path by
on a noisy machine.

    .venv/bin/python bench/instructions.py                   # this tree
    .venv/bin/python bench/instructions.py --root /tmp/other # another checkout
    .venv/bin/python bench/instructions.py --scenario routing  # per chat

CPU time on this shared VM varies by ±20 % between runs and wall-clock
trials by more, so a change worth 5 % cannot be seen in a few of them.
Valgrind's callgrind counts the instructions the process executes, which
does not depend on what else the machine is doing: two runs of the same code
agreed within 0.1 %. It runs ``bench/hotpath.py`` (a demo server in-process,
``send_message`` frames fed to a bot connection without sockets) under
callgrind twice, with two message counts, and divides the difference by the
difference in messages, so the server's start (argon2 hashes, logins)
cancels out. The writer process is not traced. System calls are not
instructions of the process, so what the kernel does is not in the figure.

Needs ``valgrind`` (Debian: ``apt-get install valgrind``); a run takes about
three minutes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def instructions(root: str, messages: int, workdir: Path, scenario: str = "relay") -> int:
    out = workdir / f"callgrind.{messages}.out"
    subprocess.run(
        [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            "--trace-children=no", sys.executable, str(HERE / "hotpath.py"),
            "--root", root, "--messages", str(messages), "--scenario", scenario,
        ],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    m = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    if m is None:
        raise SystemExit(f"no summary line in {out}")
    return int(m.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(HERE.parent))
    parser.add_argument(
        "--scenario", choices=("relay", "routing"), default="relay",
        help="relay: per chat message; routing: per chat created, offered, accepted, ended",
    )  # fmt: skip
    parser.add_argument("--low", type=int, help="messages (chats) in the first run")
    parser.add_argument("--high", type=int, help="messages (chats) in the second run")
    args = parser.parse_args()
    relay = args.scenario == "relay"
    low = args.low or (4_000 if relay else 1_000)
    high = args.high or (12_000 if relay else 3_000)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        low_count = instructions(args.root, low, Path(tmp), args.scenario)
        high_count = instructions(args.root, high, Path(tmp), args.scenario)
    per_unit = (high_count - low_count) / (high - low)
    unit = "message" if relay else "chat"
    print(f"{args.root}: {per_unit:,.0f} instructions per {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
