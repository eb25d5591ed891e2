#!/usr/bin/python3
"""A TCP relay that adds a fixed delay to every byte, in both directions.

    delay_relay.py --listen HOST:PORT --target HOST:PORT --delay-ms N
                   [--port-file FILE] [--log FILE] [--max-connections N]

This machine's kernel has no netem, so latency for the shaped-link test
(tests/integration/shaped_link.sh) comes from here: every chunk read from
one side is written to the other side no earlier than N ms after it was
read, in order; an end of stream is passed on (half-close) just as late.
A reset or error on either side closes both. Ends on SIGTERM or SIGINT.
The log (JSON lines) gives per connection the bytes each way.
"""
import argparse
import json
import os
import queue
import signal
import socket
import sys
import threading
import time

CHUNK = 16384


def pump(src, dst, delay, stats, key, dead):
    """Reads src, writes to dst `delay` seconds later; returns at the end."""
    q = queue.Queue()

    def reader():
        while True:
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = None
            q.put((time.monotonic() + delay, data))
            if not data:
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    while True:
        due, data = q.get()
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if data is None:  # error: abort both sides
            dead.set()
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        if not data:  # end of stream, passed on as a half-close
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        try:
            dst.sendall(data)
            stats[key] += len(data)
        except OSError:
            dead.set()
            try:
                src.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return


def serve(conn, peer, args, log, log_lock, slots):
    stats = {"up": 0, "down": 0}
    t0 = time.monotonic()
    err = ""
    try:
        host, port = args.target.rsplit(":", 1)
        try:
            up = socket.create_connection((host, int(port)), timeout=10)
            up.settimeout(None)
        except OSError as e:
            err = repr(e)
            return
        dead = threading.Event()
        delay = args.delay_ms / 1000.0
        a = threading.Thread(target=pump, args=(conn, up, delay, stats, "up", dead), daemon=True)
        b = threading.Thread(target=pump, args=(up, conn, delay, stats, "down", dead), daemon=True)
        a.start()
        b.start()
        a.join()
        b.join()
        up.close()
    finally:
        conn.close()
        slots.release()
        if log:
            with log_lock:
                log.write(json.dumps({"peer": f"{peer[0]}:{peer[1]}", "up": stats["up"],
                                      "down": stats["down"],
                                      "seconds": round(time.monotonic() - t0, 3),
                                      "error": err}) + "\n")
                log.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (port 0: a free one)")
    ap.add_argument("--target", required=True, help="HOST:PORT to relay to")
    ap.add_argument("--delay-ms", type=int, required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--max-connections", type=int, default=32)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(16)
    ls.settimeout(0.2)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    log = open(args.log, "a", encoding="utf-8") if args.log else None
    log_lock = threading.Lock()
    slots = threading.BoundedSemaphore(args.max_connections)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{ls.getsockname()[1]}\n")
        os.replace(tmp, args.port_file)
    while not stopping.is_set():
        try:
            conn, peer = ls.accept()
        except socket.timeout:
            continue
        except OSError:
            if stopping.is_set():
                break
            raise
        if not slots.acquire(blocking=False):
            conn.close()  # bounded: refuse beyond the limit
            continue
        conn.settimeout(None)
        threading.Thread(target=serve, args=(conn, peer, args, log, log_lock, slots),
                         daemon=True).start()
    ls.close()
    if log:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
