#!/usr/bin/python3
"""A small S3-compatible receiver for canopy's tests.

It checks every request's AWS Signature Version 4 by recomputing it with
botocore's own signer (Debian's python3-botocore: botocore.auth.S3SigV4Auth
over a botocore.awsrequest.AWSRequest rebuilt from the request as received),
stores objects in a directory, speaks the multipart upload API, and can
inject faults.

    s3_receiver.py --root DIR --port-file FILE --bucket NAME
                   --access-key ID --secret KEY [--token TOKEN]
                   [--region us-east-1] [--tls-cert PEM --tls-key PEM | --plain]
                   [--control FILE] [--log FILE] [--min-part-bytes N]
                   [--max-body-bytes N] [--max-skew-s N] [--clock-offset-s N]
                   [--anonymous] [--port N]

Listens on a free port of 127.0.0.1, or on --port (written to --port-file
once ready, atomically) with TLS unless --plain. SIGTERM or SIGINT: stops, exit 0.

Storage: ROOT/BUCKET/KEY for objects (written atomically), ROOT/.uploads/ID/
for multipart uploads in progress.

Operations (path-style /BUCKET/KEY, or virtual-hosted with Host
BUCKET.anything): PUT object; GET object; POST ?uploads (create); PUT
?partNumber=N&uploadId=X (upload part, answers an ETag); GET ?uploadId=X
(list parts, max-parts and part-number-marker honoured); POST ?uploadId=X
(complete); DELETE ?uploadId=X (abort). Errors are S3's XML
(<Error><Code/><Message/><RequestId/></Error>).

--anonymous: a PUT of an object without an Authorization header is
accepted without any signature check (log: sig "anonymous"), so that an
https:// endpoint (plain HTTP PUT of URL/KEY) can upload to
https://HOST:PORT/BUCKET[/PREFIX] and meet the same faults; signed requests
are still checked.

Checks, as S3 makes them: a known access key (403 InvalidAccessKeyId), the
credential scope's region and service and date (400
AuthorizationHeaderMalformed), x-amz-date within --max-skew-s of this
machine's clock (403 RequestTimeTooSkewed; --clock-offset-s makes the
receiver's clock, and its Date header, run that far ahead), host, x-amz-date and
x-amz-content-sha256 signed, x-amz-content-sha256 equal to the body's real
SHA-256 (400 XAmzContentSHA256Mismatch; UNSIGNED-PAYLOAD refused: canopy
always signs its payload), the session token when one is configured (403
InvalidToken), and the signature itself (403 SignatureDoesNotMatch).

Faults, from the JSON control file (re-read when it changes; counters start
again then) -- a list of rules, the first that matches a request applies:

    [{"op": "upload_part", "part": 3, "count": 1, "action": "reset"},
     {"method": "PUT", "action": "status", "status": 503, "retry_after": 2,
      "count": 2},
     {"key_contains": "0002.cnp", "action": "stall", "seconds": 30}]

  match: "op" (put_object, get_object, create, upload_part, list_parts,
  complete, abort), "method", "key_contains", "part" (part number);
  "count": how many matching requests it applies to (default 1; -1: all);
  "skip": matching requests let through first (default 0).
  action "status": answer "status" (500, 503, 429, 408, 400, 403, 413...)
    with S3's XML error ("code" overrides the usual one) and an optional
    "retry_after" header (seconds);
  "reset": read half of the body, then reset the connection (RST);
  "stall": read the body, answer nothing for "seconds" (at most 300), close;
  "close_after_headers": read the body, send the status line and headers
    (200, a Content-Length) and close without a body.

The same faults can be asked for by hand with a query parameter
"x-fault=STATUS|reset|stall|close" (applied before any check; for curl).

Log (--log, default stderr): one JSON object per request: t (Unix time),
method, target, op, key, status, bytes_in, sig ("ok", "bad", "none"),
fault, code, upload_id, part.

Everything is bounded: body size (--max-body-bytes), concurrent
connections (32), uploads in progress (1000), parts per upload (10000),
socket timeouts (60 s), stalls (300 s).
"""

import argparse
import base64
import calendar
import hashlib
import hmac
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_CONNECTIONS = 32
MAX_UPLOADS = 1000
MAX_PARTS = 10000
SOCKET_TIMEOUT_S = 60
MAX_STALL_S = 300
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

DEFAULT_CODES = {
    400: ("InvalidRequest", "Injected fault: the request is refused."),
    401: ("Unauthorized", "Injected fault: unauthorized."),
    403: ("AccessDenied", "Injected fault: access denied."),
    404: ("NoSuchKey", "Injected fault: not found."),
    408: ("RequestTimeout", "Injected fault: request timeout."),
    413: ("EntityTooLarge", "Injected fault: your proposed upload exceeds the maximum allowed size."),
    429: ("SlowDown", "Injected fault: too many requests."),
    500: ("InternalError", "Injected fault: we encountered an internal error. Please try again."),
    502: ("BadGateway", "Injected fault: bad gateway."),
    503: ("SlowDown", "Injected fault: please reduce your request rate."),
    504: ("GatewayTimeout", "Injected fault: gateway timeout."),
}


class S3Error(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class Faults:
    """The control file's rules, with their counters."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.stamp = None
        self.rules = []
        self.used = []

    def _reload(self):
        if not self.path:
            return
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self.stamp:
            return
        self.stamp = stamp
        self.rules, self.used = [], []
        if stamp is None:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                rules = json.load(f)
            if isinstance(rules, dict):
                rules = rules.get("faults", [])
            self.rules = [r for r in rules if isinstance(r, dict)][:100]
        except (OSError, ValueError) as e:
            print(f"s3_receiver: control file {self.path}: {e}; no faults", file=sys.stderr)
            self.rules = []
        self.used = [0] * len(self.rules)

    def pick(self, req):
        with self.lock:
            self._reload()
            for i, r in enumerate(self.rules):
                if "op" in r and r["op"] != req["op"]:
                    continue
                if "method" in r and r["method"] != req["method"]:
                    continue
                if "key_contains" in r and r["key_contains"] not in req["key"]:
                    continue
                if "part" in r and str(r["part"]) != req.get("part", ""):
                    continue
                self.used[i] += 1
                skip = int(r.get("skip", 0))
                count = int(r.get("count", 1))
                if self.used[i] <= skip:
                    continue
                if count >= 0 and self.used[i] > skip + count:
                    continue
                return dict(r)
            return None


class Store:
    """Objects and multipart uploads on disk."""

    def __init__(self, root, buckets):
        self.root = os.path.abspath(root)
        self.uploads = os.path.join(self.root, ".uploads")
        os.makedirs(self.uploads, exist_ok=True)
        for b in buckets:
            os.makedirs(os.path.join(self.root, b), exist_ok=True)
        self.buckets = set(buckets)
        self.lock = threading.Lock()

    def object_path(self, bucket, key):
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or "\0" in key:
            raise S3Error(400, "InvalidObjectName", f"Object key {key!r} is not stored by this receiver.")
        return os.path.join(self.root, bucket, *parts)

    def check_bucket(self, bucket):
        if bucket not in self.buckets:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist.")

    @staticmethod
    def write_atomic(path, chunks):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                for c in chunks:
                    f.write(c)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def upload_dir(self, upload_id):
        safe = hashlib.sha256(upload_id.encode()).hexdigest()[:32]
        return os.path.join(self.uploads, safe)

    def upload_meta(self, upload_id):
        d = self.upload_dir(upload_id)
        try:
            with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
        if meta.get("upload_id") != upload_id:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
        return d, meta

    def create_upload(self, bucket, key):
        with self.lock:
            if len(os.listdir(self.uploads)) >= MAX_UPLOADS:
                raise S3Error(503, "SlowDown", "Too many multipart uploads in progress.")
            # base64 with '+', '/' and '=': clients must URI-encode it.
            upload_id = base64.b64encode(secrets.token_bytes(33)).decode() + "+/="
            d = self.upload_dir(upload_id)
            os.makedirs(d)
            with open(os.path.join(d, "meta.json"), "w", encoding="utf-8") as f:
                json.dump({"upload_id": upload_id, "bucket": bucket, "key": key,
                           "initiated": time.time()}, f)
        return upload_id


def md5_etag(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def xml_error(code, message, request_id):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
            "</Error>").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "canopy-s3-receiver/1"

    # --- plumbing -------------------------------------------------------------
    timeout = SOCKET_TIMEOUT_S

    def setup(self):
        self.request.settimeout(SOCKET_TIMEOUT_S)
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.request.close()
                raise
        super().setup()

    def log_message(self, fmt, *args):
        pass  # our own log, one JSON line per request

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            timestamp = time.time() + self.server.clock_offset
        return super().date_time_string(timestamp)

    def handle(self):
        if not self.server.slots.acquire(blocking=False):
            try:
                self.request.close()
            finally:
                return
        try:
            super().handle()
        except (ConnectionError, socket.timeout, ssl.SSLError, OSError):
            pass
        finally:
            self.server.slots.release()

    def record(self, **fields):
        entry = {"t": round(time.time(), 3), "method": self.command, "target": self.path}
        entry.update({k: v for k, v in fields.items() if v not in (None, "")})
        line = json.dumps(entry, sort_keys=True)
        with self.server.log_lock:
            self.server.log.write(line + "\n")
            self.server.log.flush()

    def send_xml(self, status, body, extra=None):
        self.send_response(status)
        self.send_header("x-amz-request-id", self.request_id)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if body is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self, limit=None):
        n = self.content_length()
        if limit is not None:
            n = min(n, limit)
        data = bytearray()
        while len(data) < n:
            chunk = self.rfile.read(min(1 << 16, n - len(data)))
            if not chunk:
                raise ConnectionError("client closed mid-body")
            data += chunk
        return bytes(data)

    def content_length(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise S3Error(411, "MissingContentLength", "Chunked bodies are not accepted here; send a Content-Length.")
        v = self.headers.get("Content-Length")
        if v is None:
            if self.command in ("PUT", "POST"):
                raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
            return 0
        try:
            n = int(v)
        except ValueError:
            raise S3Error(400, "InvalidArgument", "Bad Content-Length.")
        if n < 0 or n > self.server.max_body:
            raise S3Error(413, "EntityTooLarge", f"Your proposed upload exceeds the maximum allowed size ({self.server.max_body} bytes).")
        return n

    # --- request parsing ------------------------------------------------------------
    def parse_target(self):
        split = urllib.parse.urlsplit(self.path)
        raw_path = split.path
        query = {}
        for pair in split.query.split("&") if split.query else []:
            k, _, v = pair.partition("=")
            # unquote, not unquote_plus: '+' is a plus, as in S3
            query[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
        path = urllib.parse.unquote(raw_path)
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        bucket = None
        for b in self.server.store.buckets:
            if host.startswith(b + ".") and not host[len(b) + 1:].replace(".", "").isdigit():
                bucket = b
                key = path[1:]
                break
        if bucket is None:
            parts = path[1:].split("/", 1)
            bucket = parts[0]
            key = parts[1] if len(parts) > 1 else ""
        return bucket, key, query

    @staticmethod
    def op_of(method, key, query):
        if "uploads" in query and method == "POST":
            return "create"
        if "uploadId" in query:
            return {"PUT": "upload_part", "GET": "list_parts", "POST": "complete",
                    "DELETE": "abort"}.get(method, "unknown")
        if key:
            return {"PUT": "put_object", "GET": "get_object", "HEAD": "get_object"}.get(method, "unknown")
        return "bucket"

    # --- signature ---------------------------------------------------------------------------
    def verify(self, body):
        """Raises S3Error unless the request is signed right."""
        srv = self.server
        auth = self.headers.get("Authorization")
        if not auth:
            raise S3Error(403, "AccessDenied", "Anonymous requests are not accepted.")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise S3Error(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is accepted.")
        fields = {}
        for item in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = item.strip().partition("=")
            fields[k] = v
        try:
            akid, date8, region, service, term = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
        if akid != srv.access_key:
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        if region != srv.region:
            raise S3Error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; the region '{region}' is wrong; expecting '{srv.region}'")
        if service != "s3" or term != "aws4_request":
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the credential scope is wrong.")
        amz_date = self.headers.get("x-amz-date") or ""
        if len(amz_date) != 16 or amz_date[:8] != date8:
            raise S3Error(400, "AuthorizationHeaderMalformed", "x-amz-date is missing or does not match the credential date.")
        try:
            when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise S3Error(403, "AccessDenied", "x-amz-date is not a valid date.")
        if abs(when - (time.time() + srv.clock_offset)) > srv.max_skew:
            raise S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        for must in ("host", "x-amz-date", "x-amz-content-sha256"):
            if must not in signed:
                raise S3Error(403, "AccessDenied", f"The header {must} must be signed.")
        claimed = self.headers.get("x-amz-content-sha256") or ""
        real = hashlib.sha256(body).hexdigest()
        if claimed != real:
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        token = self.headers.get("x-amz-security-token")
        if srv.token and (token != srv.token or "x-amz-security-token" not in signed):
            raise S3Error(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
        # botocore recomputes the signature over exactly the signed headers.
        scheme = "https" if srv.tls else "http"
        req = AWSRequest(method=self.command, url=f"{scheme}://{self.headers.get('Host')}{self.path}", data=body)
        for name in signed:
            values = self.headers.get_all(name) or []
            if not values:
                raise S3Error(403, "AccessDenied", f"Signed header {name} is missing.")
            for v in values:
                req.headers[name] = v  # a Message: appends, keeping repeats
        req.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(srv.access_key, srv.secret, srv.token or None), "s3", srv.region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, signature):
            raise S3Error(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                          {"x-canopy-canonical-request-sha256": hashlib.sha256(canonical.encode()).hexdigest()})

    # --- faults ------------------------------------------------------------------------------------
    def apply_fault(self, rule, info):
        action = rule.get("action", "status")
        info["fault"] = action
        if action == "reset":
            try:
                self.read_body(limit=self.content_length() // 2)
            except (S3Error, ConnectionError, OSError):
                pass
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.record(**info)
            self.request.close()
            return
        if action == "stall":
            try:
                self.read_body()
            except (S3Error, ConnectionError, OSError):
                pass
            self.record(**info)
            deadline = time.monotonic() + min(float(rule.get("seconds", 30)), MAX_STALL_S)
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                time.sleep(0.1)
            self.close_connection = True
            return
        if action == "close_after_headers":
            try:
                self.read_body()
            except (S3Error, ConnectionError, OSError):
                pass
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.send_header("ETag", '"00000000000000000000000000000000"')
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            info["status"] = 200
            self.record(**info)
            return
        status = int(rule.get("status", 500))
        code, message = DEFAULT_CODES.get(status, ("InjectedFault", "Injected fault."))
        code = rule.get("code", code)
        message = rule.get("message", message)
        extra = {}
        if "retry_after" in rule:
            extra["Retry-After"] = str(int(rule["retry_after"]))
        try:
            self.read_body()
        except (S3Error, ConnectionError, OSError):
            self.close_connection = True
        info.update(status=status, code=code)
        self.record(**info)
        self.send_xml(status, xml_error(code, message, self.request_id), extra)

    # --- dispatch ------------------------------------------------------------------------------------
    def do_any(self):
        self.request_id = secrets.token_hex(8).upper()
        info = {"sig": "none"}
        try:
            bucket, key, query = self.parse_target()
            op = self.op_of(self.command, key, query)
            info.update(op=op, key=key, upload_id=query.get("uploadId"), part=query.get("partNumber"))
            manual = query.get("x-fault")
            rule = None
            if manual:
                rule = ({"action": "status", "status": int(manual)} if manual.isdigit()
                        else {"action": {"close": "close_after_headers"}.get(manual, manual), "seconds": 30})
            else:
                rule = self.server.faults.pick({"op": op, "method": self.command, "key": key,
                                                "part": query.get("partNumber", "")})
            if rule:
                self.apply_fault(rule, info)
                return
            body = self.read_body()
            info["bytes_in"] = len(body)
            try:
                if (self.server.anonymous and op == "put_object"
                        and "Authorization" not in self.headers):
                    info["sig"] = "anonymous"
                else:
                    self.verify(body)
                    info["sig"] = "ok"
            except S3Error as e:
                if e.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken"):
                    info["sig"] = "bad"
                raise
            self.server.store.check_bucket(bucket)
            status, payload, extra = getattr(self, "op_" + op, self.op_unknown)(bucket, key, query, body)
            info["status"] = status
            self.record(**info)
            if isinstance(payload, (bytes, type(None))) and extra.pop("raw", False):
                self.send_response(status)
                self.send_header("x-amz-request-id", self.request_id)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload or b"")))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload or b"")
            else:
                self.send_xml(status, payload, extra)
        except S3Error as e:
            info.update(status=e.status, code=e.code)
            self.record(**info)
            if e.status in (411, 413):
                self.close_connection = True  # the body was not read
            self.send_xml(e.status, xml_error(e.code, e.message, self.request_id), e.headers)
        except (ConnectionError, socket.timeout, OSError) as e:
            info.update(status=0, code=type(e).__name__)
            self.record(**info)
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_any

    # --- operations ------------------------------------------------------------------------------------
    def op_unknown(self, bucket, key, query, body):
        raise S3Error(501, "NotImplemented", "This receiver does not implement that operation.")

    def op_bucket(self, bucket, key, query, body):
        raise S3Error(501, "NotImplemented", "Bucket operations are not implemented here.")

    def op_put_object(self, bucket, key, query, body):
        path = self.server.store.object_path(bucket, key)
        Store.write_atomic(path, [body])
        return 200, None, {"ETag": md5_etag(body)}

    def op_get_object(self, bucket, key, query, body):
        path = self.server.store.object_path(bucket, key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
        return 200, data, {"raw": True, "ETag": md5_etag(data), "Content-Type": "application/octet-stream"}

    def op_create(self, bucket, key, query, body):
        self.server.store.object_path(bucket, key)  # validates the key
        upload_id = self.server.store.create_upload(bucket, key)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>'
               f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
               f"<UploadId>{escape(upload_id)}</UploadId></InitiateMultipartUploadResult>").encode()
        return 200, xml, {}

    def _upload(self, bucket, key, query):
        d, meta = self.server.store.upload_meta(query["uploadId"])
        if meta["bucket"] != bucket or meta["key"] != key:
            raise S3Error(404, "NoSuchUpload", "The upload does not belong to this key.")
        return d, meta

    def op_upload_part(self, bucket, key, query, body):
        d, _ = self._upload(bucket, key, query)
        try:
            n = int(query.get("partNumber", ""))
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_PARTS:
            raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
        Store.write_atomic(os.path.join(d, f"part-{n:05d}"), [body])
        return 200, None, {"ETag": md5_etag(body)}

    def _parts(self, d):
        out = []
        for name in sorted(os.listdir(d)):
            if name.startswith("part-"):
                p = os.path.join(d, name)
                with open(p, "rb") as f:
                    data = f.read()
                out.append((int(name[5:]), md5_etag(data), len(data), p))
        return out

    def op_list_parts(self, bucket, key, query, body):
        d, meta = self._upload(bucket, key, query)
        try:
            max_parts = max(1, min(1000, int(query.get("max-parts", "1000"))))
            marker = int(query.get("part-number-marker", "0") or 0)
        except ValueError:
            raise S3Error(400, "InvalidArgument", "Bad max-parts or part-number-marker.")
        parts = [p for p in self._parts(d) if p[0] > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        items = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag, {chr(34): '&quot;'})}</ETag>"
            f"<Size>{size}</Size></Part>" for n, etag, size, _ in page)
        nxt = page[-1][0] if page else marker
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult><Bucket>{escape(bucket)}</Bucket>'
               f"<Key>{escape(key)}</Key><UploadId>{escape(meta['upload_id'])}</UploadId>"
               f"<PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{nxt}</NextPartNumberMarker>"
               f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
               f"{items}</ListPartsResult>").encode()
        return 200, xml, {}

    def op_complete(self, bucket, key, query, body):
        d, meta = self._upload(bucket, key, query)
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed.")
        wanted = []
        for p in root.iter():
            if p.tag.split("}")[-1] != "Part":
                continue
            num = etag = None
            for c in p:
                tag = c.tag.split("}")[-1]
                if tag == "PartNumber":
                    num = int((c.text or "0").strip())
                elif tag == "ETag":
                    etag = (c.text or "").strip()
            wanted.append((num, etag))
        if not wanted:
            raise S3Error(400, "MalformedXML", "No parts in CompleteMultipartUpload.")
        if [n for n, _ in wanted] != sorted({n for n, _ in wanted}):
            raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        have = {n: (etag, size, path) for n, etag, size, path in self._parts(d)}
        for i, (n, etag) in enumerate(wanted):
            if n not in have or have[n][0].strip('"') != (etag or "").strip('"'):
                raise S3Error(400, "InvalidPart", f"One or more of the specified parts could not be found (part {n}).")
            if i + 1 < len(wanted) and have[n][1] < self.server.min_part:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.")
        path = self.server.store.object_path(bucket, key)
        md5s = b""

        def chunks():
            nonlocal md5s
            for n, _ in wanted:
                with open(have[n][2], "rb") as f:
                    data = f.read()
                md5s += hashlib.md5(data).digest()
                yield data
        Store.write_atomic(path, chunks())
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(wanted)}"'
        shutil.rmtree(d, ignore_errors=True)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>'
               f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
               f"<ETag>{escape(etag, {chr(34): '&quot;'})}</ETag></CompleteMultipartUploadResult>").encode()
        return 200, xml, {}

    def op_abort(self, bucket, key, query, body):
        d, _ = self._upload(bucket, key, query)
        shutil.rmtree(d, ignore_errors=True)
        return 204, None, {}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # TLS handshakes that fail (a client that does not trust us) and
        # resets are part of the tests: one line, not a traceback.
        print(f"s3_receiver: connection from {client_address[0]}:{client_address[1]}: "
              f"{sys.exc_info()[1]!r}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--bucket", action="append", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--plain", action="store_true", help="HTTP without TLS")
    ap.add_argument("--control")
    ap.add_argument("--log")
    ap.add_argument("--min-part-bytes", type=int, default=5 * 1024 * 1024)
    ap.add_argument("--max-body-bytes", type=int, default=128 * 1024 * 1024)
    ap.add_argument("--max-skew-s", type=int, default=900)
    ap.add_argument("--clock-offset-s", type=int, default=0,
                    help="pretend this machine's clock is this far ahead")
    ap.add_argument("--port", type=int, default=0,
                    help="listen on this port (default: a free one)")
    ap.add_argument("--anonymous", action="store_true",
                    help="accept unsigned PutObject (for https:// endpoints)")
    args = ap.parse_args()
    if not args.plain and not (args.tls_cert and args.tls_key):
        ap.error("give --tls-cert and --tls-key, or --plain")

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.tls = not args.plain
    if srv.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    srv.store = Store(args.root, args.bucket)
    srv.faults = Faults(args.control)
    srv.access_key, srv.secret, srv.token = args.access_key, args.secret, args.token
    srv.region = args.region
    srv.min_part = args.min_part_bytes
    srv.max_body = args.max_body_bytes
    srv.max_skew = args.max_skew_s
    srv.clock_offset = args.clock_offset_s
    srv.anonymous = args.anonymous
    srv.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    srv.stopping = threading.Event()
    srv.log_lock = threading.Lock()
    srv.log = open(args.log, "a", encoding="utf-8") if args.log else sys.stderr

    def stop(signum, frame):
        srv.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = srv.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if srv.log is not sys.stderr:
            srv.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
