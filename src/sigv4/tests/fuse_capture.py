# Captures what real FUSE S3 clients send while file operations run on their mount, using a
# local S3-like capture server, and prints the requests in the format of botocore_capture.py,
# plus "MOUNT ok", or "MISSING <why>" when a tool is not installed, or "NOMOUNT <why>" when the
# client did not mount (fuse_clients.rs fails on either). Only 127.0.0.1 is contacted; the mount is always unmounted
# and the client stopped (watchdog after 60 s). Usage:
#   fuse_capture.py goofys GOOFYS_BINARY   the server refuses every SigV4 request with 403 (as
#                                          EMC and old gateways did), so goofys falls back to its
#                                          own SigV2 signer
#   fuse_capture.py s3fs sigv2|sigv4       s3fs with its own signer of that version
import base64, hashlib, http.server, os, shutil, subprocess, sys, tempfile, threading, time
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

captured, stored, lock = [], {}, threading.Lock()
REFUSE_V4 = sys.argv[1] == "goofys"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def listing(self, query):
        q = parse_qs(query, keep_blank_values=True)
        prefix = q.get("prefix", [""])[0]
        delim = q.get("delimiter", [""])[0]
        keys, prefixes = [], set()
        for k in sorted(stored):
            if not k.startswith(prefix):
                continue
            rest = k[len(prefix):]
            if delim and delim in rest:
                prefixes.add(prefix + rest.split(delim)[0] + delim)
            else:
                keys.append(k)
        body = ['<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                '<Name>bucket</Name><Prefix>%s</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys>'
                '<IsTruncated>false</IsTruncated>' % escape(prefix)]
        for k in keys:
            body.append('<Contents><Key>%s</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>'
                        '<ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>'
                        % (escape(k), hashlib.md5(stored[k]).hexdigest(), len(stored[k])))
        for p in sorted(prefixes):
            body.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p))
        body.append("</ListBucketResult>")
        return "".join(body).encode()

    def handle_any(self):
        n = int(self.headers.get("Content-Length", "0") or "0")
        data = self.rfile.read(n) if n else b""
        with lock:
            captured.append((self.command, self.path, list(self.headers.items()), data))
        if REFUSE_V4 and self.headers.get("Authorization", "").startswith("AWS4-"):
            return self.reply(403, b"<Error><Code>AccessDenied</Code><Message>SigV4 refused</Message></Error>")
        path, _, query = self.path.partition("?")
        segments = path.split("/", 2)
        key = unquote(segments[2]) if len(segments) > 2 else ""
        etag = lambda d: '"%s"' % hashlib.md5(d).hexdigest()
        common = [("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT"), ("Content-Type", "application/octet-stream")]
        if self.command == "PUT" and self.headers.get("x-amz-copy-source"):
            src = unquote(self.headers["x-amz-copy-source"]).lstrip("/").split("/", 1)[1]
            stored[key] = stored.get(src, b"")
            return self.reply(200, ('<CopyObjectResult><LastModified>2026-01-01T00:00:00.000Z</LastModified>'
                                    '<ETag>%s</ETag></CopyObjectResult>' % escape(etag(stored[key]))).encode())
        if self.command == "PUT":
            stored[key] = data
            return self.reply(200, b"", [("ETag", etag(data))])
        if self.command == "DELETE":
            stored.pop(key, None)
            return self.reply(204)
        if self.command == "GET" and not key:
            if "uploads" in query:
                return self.reply(200, b'<ListMultipartUploadsResult><Bucket>bucket</Bucket>'
                                       b'<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>')
            return self.reply(200, self.listing(query), [("Content-Type", "application/xml")])
        if key in stored:
            body = stored[key]
            rng = self.headers.get("Range")
            if self.command == "GET" and rng and rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                a = int(a)
                b = min(int(b) if b else len(body) - 1, len(body) - 1)
                part = body[a:b + 1]
                return self.reply(206, part, [("ETag", etag(body)), ("Content-Range", "bytes %d-%d/%d" % (a, b, len(body)))] + common)
            return self.reply(200, body, [("ETag", etag(body))] + common)
        return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


def main():
    kind = sys.argv[1]
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount"):
        print("MISSING no /dev/fuse or fusermount (scripts/test-deps-fuse.sh, scripts/install-goofys.sh)")
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = "http://127.0.0.1:%d" % server.server_address[1]
    mnt = tempfile.mkdtemp(prefix="sigv4-%s-" % kind)
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    work = tempfile.mkdtemp(prefix="sigv4-%s-cfg-" % kind)
    if kind == "goofys":
        env.update(AWS_ACCESS_KEY_ID="goofys-user", AWS_SECRET_ACCESS_KEY="goofys-secret-345")
        argv = [sys.argv[2], "-f", "--region", "us-east-1", "--endpoint", endpoint, "bucket", mnt]
    else:
        if not shutil.which("s3fs"):
            print("MISSING s3fs is not installed (scripts/test-deps-fuse.sh)")
            return
        passwd = os.path.join(work, "passwd")
        with open(passwd, "w") as f:
            f.write("s3fs-user:s3fs-secret-678\n")
        os.chmod(passwd, 0o600)
        argv = ["s3fs", "bucket", mnt, "-f", "-o", "url=" + endpoint, "-o", "use_path_request_style",
                "-o", "passwd_file=" + passwd, "-o", sys.argv[2], "-o", "retries=1", "-o", "endpoint=us-east-1"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def cleanup(lazy=False):
        subprocess.run(["fusermount", "-u"] + (["-z"] if lazy else []) + [mnt], capture_output=True)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    watchdog = threading.Timer(60, lambda: cleanup(lazy=True))
    watchdog.start()
    try:
        for _ in range(100):
            if os.path.ismount(mnt):
                break
            time.sleep(0.1)
        if not os.path.ismount(mnt):
            print("NOMOUNT %s did not mount:" % kind, proc.stdout.read1(4000).decode(errors="replace").replace("\n", " | ")
                  if proc.poll() is not None else "timeout")
            return
        print("MOUNT ok")
        name = os.path.join(mnt, "a b+c$&=@!'(x).txt")
        with open(name, "wb") as f:
            f.write(b"hello from goofys\n" * 10)
        with open(name, "rb") as f:
            assert f.read() == b"hello from goofys\n" * 10
        os.mkdir(os.path.join(mnt, "dir x"))
        os.rename(name, os.path.join(mnt, "dir x", "renamed é.txt"))
        os.listdir(os.path.join(mnt, "dir x"))
        if kind == "s3fs":
            os.chmod(os.path.join(mnt, "dir x", "renamed é.txt"), 0o640)
        os.unlink(os.path.join(mnt, "dir x", "renamed é.txt"))
    finally:
        cleanup()
        watchdog.cancel()
        server.shutdown()
        os.rmdir(mnt)
        shutil.rmtree(work, ignore_errors=True)
    for method, path, headers, data in captured:
        print("REQ", method, "http://%s%s" % (dict(headers).get("Host", "127.0.0.1"), path))
        for k, v in headers:
            print("H", k + "\t" + v)
        print("BODY", base64.b64encode(data).decode())


main()
