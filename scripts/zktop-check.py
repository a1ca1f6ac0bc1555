#!/usr/bin/env python3
"""Check that zktop (Debian's `zktop` package, a curses ZooKeeper monitor) shows a running
ensemble's modes: it is run in a pseudo-terminal for a few seconds and its screen parsed.

    scripts/zktop-check.py 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183

Prints the mode letter zktop shows for each server (L leader, F follower, O observer,
S standalone) and exits 0 only if every server is shown with a mode and exactly one leads.
"""
import os
import pty
import re
import select
import signal
import sys
import time


def screen(servers: str, seconds: float = 4.0) -> str:
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execvp("zktop", ["zktop", "--servers", servers, "-l", ""])
    out = b""
    end = time.time() + seconds
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    # Cursor moves separate the columns: turn every escape sequence into a space.
    return re.sub(rb"\x1b(\[[0-9;?]*[A-Za-z]|\(B|=|>)", b" ", out).decode("latin-1")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    servers = sys.argv[1]
    text = screen(servers)
    modes = {}
    for hostport in servers.split(","):
        port = hostport.rsplit(":", 1)[1]
        found = re.findall(rf"\b{port}\s+([LFOS])\b", text)
        modes[hostport] = found[-1] if found else None
    for hostport, mode in modes.items():
        print(f"{hostport}\t{mode or '?'}")
    ok = all(modes.values()) and list(modes.values()).count("L") == 1
    print("zktop-check: ok" if ok else "zktop-check: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
