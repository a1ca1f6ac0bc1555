#!/usr/bin/env python3
"""Ask zabd (or ZooKeeper) servers four-letter words on their client ports. Standard library only.

    fourlw.py WORD PORT [HOST]       print the raw answer to WORD (e.g. srvr, mntr, ruok, conf)
    fourlw.py probe PORT [PORT...]   one tab-separated line per port, in order:
                                     PORT  STATE  ZXID  EPOCH
      STATE is leader | follower | observer | standalone | not-serving | down (connection
      refused) | no-answer (connected, no reply in time, e.g. a SIGSTOPped server) | unknown;
      ZXID (hex) and EPOCH are "-" when not known. EPOCH is mntr's zk_current_epoch.
    fourlw.py busy PORT [PORT...]    print the ports that cannot be bound on HOST (in use);
                                     exit 1 if there is any

HOST defaults to 127.0.0.1 (ZABD_HOST overrides); the timeout per query is ZABD_4LW_TIMEOUT
seconds (default 2). Exit status: 0, or 1 when a plain query cannot connect or gets no answer.
"""

import os
import socket
import sys
import threading

HOST = os.environ.get("ZABD_HOST", "127.0.0.1")
TIMEOUT = float(os.environ.get("ZABD_4LW_TIMEOUT", "2"))
NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


class Down(Exception):
    pass


class NoAnswer(Exception):
    pass


def ask(word, port, host=HOST, timeout=TIMEOUT):
    """Send WORD, read until the server closes the connection, return the text."""
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except ConnectionRefusedError as err:
        raise Down(str(err)) from err
    except OSError as err:
        raise NoAnswer(str(err)) from err
    chunks = []
    try:
        sock.settimeout(timeout)
        sock.sendall(word.encode("ascii"))
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except ConnectionResetError:
        pass  # the server answered and closed with unread bytes; keep what arrived
    except OSError as err:
        raise NoAnswer(str(err)) from err
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def probe(port):
    """(state, zxid, epoch) of the server on PORT."""
    try:
        srvr = ask("srvr", port)
    except Down:
        return ("down", "-", "-")
    except NoAnswer:
        return ("no-answer", "-", "-")
    if NOT_SERVING in srvr:
        return ("not-serving", "-", "-")
    fields = {}
    for line in srvr.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    mode = fields.get("Mode", "unknown") or "unknown"
    zxid = fields.get("Zxid", "-") or "-"
    epoch = "-"
    try:
        mntr = ask("mntr", port)
        for line in mntr.splitlines():
            key, sep, value = line.partition("\t")
            if sep and key == "zk_current_epoch":
                epoch = value.strip()
    except (Down, NoAnswer):
        pass
    if epoch == "-" and zxid.startswith("0x"):
        try:
            epoch = str(int(zxid, 16) >> 32)
        except ValueError:
            pass
    return (mode, zxid, epoch)


def busy(port, host=HOST):
    """True if PORT cannot be bound on HOST (something listens there)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As servers do: connections left in TIME_WAIT do not count as in use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        return False
    except OSError:
        return True
    finally:
        sock.close()


def main(argv):
    if len(argv) >= 3 and argv[1] == "busy":
        taken = [p for p in argv[2:] if busy(p)]
        for port in taken:
            print(port)
        return 1 if taken else 0
    if len(argv) >= 3 and argv[1] == "probe":
        ports = argv[2:]
        results = [None] * len(ports)

        def run(i, p):
            results[i] = probe(p)

        threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for port, result in zip(ports, results):
            print("\t".join((port,) + tuple(result)))
        return 0
    if len(argv) in (3, 4):
        host = argv[3] if len(argv) == 4 else HOST
        try:
            sys.stdout.write(ask(argv[1], argv[2], host))
        except (Down, NoAnswer) as err:
            print(f"fourlw.py: {host}:{argv[2]}: {err}", file=sys.stderr)
            return 1
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
