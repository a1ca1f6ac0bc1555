#!/usr/bin/env python3
"""Fault-injecting TCP proxy for scripts/chaos.py: loopback only, standard library only.

One listener per route. A route forwards 127.0.0.1:<listen> to 127.0.0.1:<target> and belongs
to an unordered pair of servers {a, b}: chaos.py gives server a's zoo.cfg the listen ports of
route (a -> b) for server b's quorum and election ports, so every connection between a and b,
dialled by either side, goes through a route of pair {a, b}, and the proxy can cut that pair.

A cut pair has a mode:
  reset      every open connection of the pair is closed at once (both sides), and new ones are
             accepted and closed straight away (like a peer that refuses).
  blackhole  nothing moves: open connections stop being read (bytes already read are held, not
             dropped), and new connections are accepted but not forwarded. On heal, held bytes
             are delivered and held connections are dialled through: late, but a valid TCP
             stream, as after a long retransmission. The servers' own timeouts decide when to
             give up on them.
Healing a pair lets traffic flow again.

Protocol: started with one argument, a JSON file
  {"routes": [{"listen": port, "target": port, "pair": [a, b], "name": "..."}, ...]}
It binds every listener, then prints `READY` on stdout. Then it reads JSON commands, one per
line, from stdin and answers each with one JSON line on stdout:
  {"cmd": "cut", "pairs": [[a, b], ...], "mode": "reset"|"blackhole"}   -> {"ok": true}
  {"cmd": "heal", "pairs": [[a, b], ...]}                                -> {"ok": true}
  {"cmd": "heal_all"}                                                    -> {"ok": true}
  {"cmd": "stats"}   -> {"ok": true, "connections": n, "bytes": n, "cut": [...], "refused": n}
EOF on stdin ends the proxy.
"""

import asyncio
import json
import sys

HOST = "127.0.0.1"
CHUNK = 65536


def pair_key(a, b):
    a, b = int(a), int(b)
    return (a, b) if a < b else (b, a)


class Pair:
    def __init__(self):
        self.mode = None  # None (healthy), "reset" or "blackhole"
        self.open = asyncio.Event()
        self.open.set()
        self.live = {}  # id -> connection: {"task", "writers"}


class Proxy:
    def __init__(self, routes):
        self.routes = routes
        self.pairs = {}
        self.servers = []
        self.connections = 0
        self.refused = 0
        self.bytes = 0
        for r in routes:
            self.pairs.setdefault(pair_key(*r["pair"]), Pair())

    async def start(self):
        for r in self.routes:
            pair = self.pairs[pair_key(*r["pair"])]
            target = int(r["target"])

            async def handler(reader, writer, pair=pair, target=target):
                await self.handle(pair, target, reader, writer)

            server = await asyncio.start_server(handler, HOST, int(r["listen"]), reuse_address=True)
            self.servers.append(server)

    async def handle(self, pair, target, c_reader, c_writer):
        self.connections += 1
        conn = {"task": asyncio.current_task(), "writers": [c_writer]}
        pair.live[id(conn)] = conn
        try:
            if pair.mode == "reset":
                self.refused += 1
                return
            await pair.open.wait()  # blackholed: held until healed (or cancelled by a reset cut)
            try:
                u_reader, u_writer = await asyncio.open_connection(HOST, target)
            except OSError:
                return  # the server is down: the dialler sees its connection closed
            conn["writers"].append(u_writer)
            await asyncio.gather(
                self.pipe(pair, c_reader, u_writer),
                self.pipe(pair, u_reader, c_writer),
            )
        except (asyncio.CancelledError, OSError):
            pass
        finally:
            pair.live.pop(id(conn), None)
            for w in conn["writers"]:
                try:
                    w.transport.abort()
                except Exception:
                    pass

    async def pipe(self, pair, reader, writer):
        try:
            while True:
                await pair.open.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                await pair.open.wait()  # cut while reading: hold these bytes until healed
                if pair.mode == "reset":
                    break
                writer.write(data)
                self.bytes += len(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # one direction ended: end the whole connection (ZooKeeper peers never half-close)
            try:
                writer.transport.abort()
            except Exception:
                pass

    def cut(self, pairs, mode):
        for a, b in pairs:
            pair = self.pairs[pair_key(a, b)]
            pair.mode = mode
            pair.open.clear()
            if mode == "reset":
                for conn in list(pair.live.values()):
                    for w in conn["writers"]:
                        try:
                            w.transport.abort()
                        except Exception:
                            pass
                    conn["task"].cancel()

    def heal(self, pairs):
        for a, b in pairs:
            pair = self.pairs[pair_key(a, b)]
            pair.mode = None
            pair.open.set()

    def command(self, cmd):
        kind = cmd.get("cmd")
        if kind == "cut":
            mode = cmd.get("mode", "reset")
            if mode not in ("reset", "blackhole"):
                return {"ok": False, "error": f"bad mode {mode!r}"}
            self.cut(cmd["pairs"], mode)
        elif kind == "heal":
            self.heal(cmd["pairs"])
        elif kind == "heal_all":
            self.heal(list(self.pairs))
        elif kind == "stats":
            return {
                "ok": True,
                "connections": self.connections,
                "bytes": self.bytes,
                "refused": self.refused,
                "cut": [[a, b, p.mode] for (a, b), p in sorted(self.pairs.items()) if p.mode],
            }
        else:
            return {"ok": False, "error": f"unknown command {kind!r}"}
        return {"ok": True}


async def main(path):
    with open(path) as f:
        spec = json.load(f)
    proxy = Proxy(spec["routes"])
    await proxy.start()
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        try:
            answer = proxy.command(json.loads(line))
        except Exception as err:  # a bad command must not kill the proxy
            answer = {"ok": False, "error": repr(err)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for server in proxy.servers:
        server.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1]))
    except KeyboardInterrupt:
        pass
