#!/usr/bin/env python3
"""A scripted scheme server for tests/integration/remote_schemes.sh.

    schemes_server.py DIR PORTFILE LOG

Serves GET /schemes on 127.0.0.1 (a free port, written to PORTFILE). DIR
holds the script: step-N.json (N = 0, 1, ...) and, optionally, step-N.sig
(the hex signature sent as X-Canopy-Signature). Request k is answered from
step min(k, last): with 304 when its If-None-Match is the step's ETag (the
body's SHA-256 in quotes), else 200 with the body, the ETag and the
signature. Each request is logged to LOG as "step N inm=ETAG status".
"""
import hashlib
import http.server
import os
import sys

root, portfile, logpath = sys.argv[1:4]
steps = sorted(int(n[5:-5]) for n in os.listdir(root) if n.startswith("step-") and n.endswith(".json"))
count = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/schemes":
            self.send_response(404)
            self.end_headers()
            return
        n = steps[min(count[0], len(steps) - 1)]
        count[0] += 1
        body = open(os.path.join(root, "step-%d.json" % n), "rb").read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()
        inm = self.headers.get("If-None-Match", "")
        sig_path = os.path.join(root, "step-%d.sig" % n)
        status = 304 if inm == etag else 200
        with open(logpath, "a") as log:
            log.write("step %d inm=%s %d\n" % (n, inm or "-", status))
        self.send_response(status)
        self.send_header("ETag", etag)
        if status == 200:
            if os.path.exists(sig_path):
                self.send_header("X-Canopy-Signature", open(sig_path).read().strip())
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.end_headers()


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
