#!/usr/bin/env python3
"""relay.py PORT: the guest's only way out of the system test's QEMU.

QEMU runs it once per guest connection to the guestfwd address
(`-netdev user,restrict=on,guestfwd=tcp:10.0.2.100:443-cmd:relay.py PORT`),
with the connection on stdin and stdout. It connects to 127.0.0.1:PORT, and
only there, and copies bytes both ways until both sides have closed (or
nothing moved for IDLE seconds). stderr is the guest's connection too, so
diagnostics go to the file named by $CANOPY_RELAY_LOG, if set.
"""
import os
import select
import socket
import sys
import time

IDLE = 120.0


def log(msg):
    path = os.environ.get("CANOPY_RELAY_LOG")
    if path:
        with open(path, "a") as f:
            f.write("%.3f relay[%d] %s\n" % (time.time(), os.getpid(), msg))


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        log("usage: relay.py PORT")
        return 2
    port = int(sys.argv[1])
    try:
        up = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as e:
        log("cannot connect to 127.0.0.1:%d: %s" % (port, e))
        return 1
    up.setblocking(True)
    down_in, down_out = 0, 1
    try:
        down_sock = socket.socket(fileno=os.dup(down_out))
    except OSError:
        down_sock = None  # not a socket (a pipe): close instead of shutdown
    log("connected to 127.0.0.1:%d" % port)
    to_up = to_down = 0
    open_in, open_up = True, True
    last = time.monotonic()
    while open_in or open_up:
        rlist = ([down_in] if open_in else []) + ([up] if open_up else [])
        ready, _, _ = select.select(rlist, [], [], 5.0)
        if not ready:
            if time.monotonic() - last > IDLE:
                log("idle for %d s, closing" % IDLE)
                break
            continue
        last = time.monotonic()
        if down_in in ready:
            try:
                data = os.read(down_in, 65536)
            except OSError:
                data = b""
            if data:
                up.sendall(data)
                to_up += len(data)
            else:
                open_in = False
                try:
                    up.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if up in ready:
            try:
                data = up.recv(65536)
            except OSError:
                data = b""
            if data:
                view = memoryview(data)
                while view:
                    n = os.write(down_out, view)
                    view = view[n:]
                to_down += len(data)
            else:
                open_up = False
                if down_sock is not None:
                    try:
                        down_sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                else:
                    os.close(down_out)
    log("closed: %d bytes to the server, %d to the guest" % (to_up, to_down))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # never write to stderr: it is the guest's socket
        log("error: %r" % (e,))
        sys.exit(1)
