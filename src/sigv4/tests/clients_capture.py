# Captures the requests real S3 command-line clients send (s3cmd and rclone, each with SigV4 and
# SigV2) to a small local HTTP server that answers just enough for them to finish, and prints
# them in the format of botocore_capture.py ("REQ <method> <url>", "H <name>\t<value>",
# "BODY <base64>"), plus "CLIENT <name>" before each client's requests and "MISSING <why>" for a
# client that is not installed (clients.rs then fails: scripts/test-deps-s3.sh installs both). Only 127.0.0.1 is contacted. Run by clients.rs.
import base64, hashlib, http.server, os, shutil, subprocess, sys, tempfile, threading

captured = []
stored = {}
lock = threading.Lock()

LIST_V1 = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b'<Name>bucket</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>'
           b'<Contents><Key>dir/x y.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>'
           b'<ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass>'
           b'</Contents><KeyCount>1</KeyCount></ListBucketResult>')
LOCATION = (b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>')


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(n) if n else b""

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        data = self.body()
        with lock:
            captured.append((self.command, self.path, list(self.headers.items()), data))
        path, _, query = self.path.partition("?")
        segments = [s for s in path.split("/") if s]
        if self.command == "PUT" and self.headers.get("x-amz-copy-source"):
            self.reply(200, b'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult>'
                            b'<LastModified>2026-01-01T00:00:00.000Z</LastModified>'
                            b'<ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag></CopyObjectResult>',
                       [("Content-Type", "application/xml")])
        elif self.command == "PUT":
            etag = '"%s"' % hashlib.md5(data).hexdigest()
            with lock:
                stored[path] = (data, etag)
            self.reply(200, b"", [("ETag", etag)])
        elif self.command == "HEAD" and path in stored:
            data, etag = stored[path]
            self.reply(200, data, [("ETag", etag), ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")])
        elif self.command == "HEAD" and (len(segments) <= 1 or "x%20y" in path):
            self.reply(200, b"hello" if len(segments) > 1 else b"",
                       [("ETag", '"5d41402abc4b2a76b9719d911017c592"'),
                        ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")])
        elif self.command == "HEAD":
            self.reply(404)
        elif self.command == "GET" and "location" in query:
            self.reply(200, LOCATION, [("Content-Type", "application/xml")])
        elif self.command == "GET" and len(segments) <= 1:
            self.reply(200, LIST_V1, [("Content-Type", "application/xml")])
        elif self.command == "GET":
            self.reply(200, b"hello", [("ETag", '"5d41402abc4b2a76b9719d911017c592"'),
                                       ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT"),
                                       ("Content-Type", "application/octet-stream")])
        elif self.command == "DELETE":
            self.reply(204)
        else:
            self.reply(501)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = "127.0.0.1:%d" % port
work = tempfile.mkdtemp()
src = os.path.join(work, "src file.txt")
with open(src, "wb") as f:
    f.write(b"hello from a real client\n" * 100)


def run(name, argv):
    with lock:
        start = len(captured)
    # rclone's AWS SDK refuses a custom CA bundle with its own HTTP transport; nothing here is TLS.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    try:
        p = subprocess.run(argv, capture_output=True, timeout=60, cwd=work, env=env)
        status = p.returncode
        err = p.stderr.decode(errors="replace")[-500:]
    except subprocess.TimeoutExpired:
        status, err = "timeout", ""
    with lock:
        reqs = captured[start:]
    print("CLIENT", name, "exit=%s" % status, "requests=%d" % len(reqs))
    if status != 0:
        print("STDERR", err.replace("\n", " | "), file=sys.stderr)
    for method, path, headers, data in reqs:
        print("REQ", method, "http://" + endpoint + path)
        for k, v in headers:
            print("H", k + "\t" + v)
        print("BODY", base64.b64encode(data).decode())


if shutil.which("s3cmd"):
    for sig in ["v4", "v2"]:
        cfg = os.path.join(work, "s3cfg-" + sig)
        with open(cfg, "w") as f:
            f.write("[default]\naccess_key = s3cmd-user\nsecret_key = s3cmd-secret-789\n"
                    "host_base = %s\nhost_bucket = %s\nuse_https = False\nsignature_v2 = %s\n"
                    "check_ssl_certificate = False\n" % (endpoint, endpoint, "True" if sig == "v2" else "False"))
        base = ["s3cmd", "-c", cfg, "--no-progress"]
        run("s3cmd-%s-put" % sig, base + ["put", src, "s3://bucket/dir/a b+c(1)!.txt"])
        run("s3cmd-%s-put-meta" % sig, base + ["put", "--add-header=x-amz-meta-city:Zürich", src, "s3://bucket/m"])
        run("s3cmd-%s-ls" % sig, base + ["ls", "s3://bucket/dir/"])
        run("s3cmd-%s-get" % sig, base + ["get", "--force", "s3://bucket/dir/x y.txt", os.path.join(work, "out")])
        run("s3cmd-%s-del" % sig, base + ["del", "s3://bucket/dir/x y.txt"])
else:
    print("MISSING s3cmd is not installed")

if shutil.which("rclone"):
    for sig in ["v4", "v2"]:
        base = ["rclone", "--config", os.path.join(work, "rclone.conf"), "--s3-provider", "Other",
                "--s3-endpoint", "http://" + endpoint, "--s3-access-key-id", "rclone-user",
                "--s3-secret-access-key", "rclone-secret-012", "--s3-region", "us-east-1", "--retries", "1",
                "--low-level-retries", "1"]
        if sig == "v2":
            base.append("--s3-v2-auth")
        run("rclone-%s-copyto" % sig, base + ["copyto", src, ":s3:bucket/dir/a b+c(1)!.txt"])
        run("rclone-%s-lsf" % sig, base + ["lsf", ":s3:bucket/dir/"])
        run("rclone-%s-cat" % sig, base + ["cat", ":s3:bucket/dir/x y.txt"])
else:
    print("MISSING rclone is not installed")

server.shutdown()
shutil.rmtree(work, ignore_errors=True)
