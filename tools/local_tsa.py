#!/usr/bin/env python3
"""A local RFC 3161 time-stamping authority for tests: `openssl ts -reply` behind HTTP.

    python3 tools/local_tsa.py --dir DIR [--port 0] [--lifetime-s 600]

Makes a throwaway CA (`DIR/ca.pem`) and a TSA certificate signed by it (`DIR/tsa.pem`, with
extendedKeyUsage critical timeStamping, as RFC 3161 §2.3 requires) unless they are there, then
answers `POST /` bodies of type application/timestamp-query with `openssl ts -reply` on
127.0.0.1. The first line on stdout is `listening http://127.0.0.1:PORT/` once it accepts.
It stops by itself after --lifetime-s seconds or --max-requests requests, whichever is first.

`--init-only` makes the certificates and exits; `--precision N` writes genTime with N digits of
the second (openssl's clock_precision_digits; 0 = whole seconds); `--substitution-pair` also
makes two certificates for a certificate-substitution test (see substitution_pair). `DIR/down` existing makes it answer 503
(the TSA "down" for a test that needs it without restarting the process).
"""

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading

OPENSSL = os.environ.get("OPENSSL", "openssl")


def run(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def init(d, precision=0):
    if os.path.exists(os.path.join(d, "tsa.pem")):
        return
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
        "-subj", "/CN=Confidant test TSA CA",
        "-addext", "basicConstraints=critical,CA:true",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    run("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Confidant test TSA",
        cwd=d)
    with open(os.path.join(d, "tsa-ext.cnf"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=critical,timeStamping\n")
    run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.pem", "-days", "3650", "-extfile", "tsa-ext.cnf", cwd=d)
    with open(os.path.join(d, "tsaserial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(d, "tsa.cnf"), "w") as f:
        f.write(f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {d}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
clock_precision_digits = {precision}
""")


def substitution_pair(d):
    """Two TSA certificates A and B for the TSA's key, with the same issuer and serial number
    and DER of the same length but another subject, and `tsa-b.cnf` signing as B: a test puts
    A in place of B in B's token (what ESS signingCertificate guards against)."""
    def make(name):
        run("req", "-new", "-key", "tsa.key", "-out", f"{name}.csr",
            "-subj", f"/CN=Confidant test TSA {name}", cwd=d)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", "4242", "-out", f"{name}.pem", "-days", "3650",
            "-extfile", "tsa-ext.cnf", cwd=d)
        run("x509", "-in", f"{name}.pem", "-outform", "DER", "-out", f"{name}.der", cwd=d)
        return os.path.getsize(os.path.join(d, f"{name}.der"))
    # The CA's ECDSA signature varies in length; A must be as long as B to take its place.
    b = make("B")
    if not any(make("A") == b for _ in range(40)):
        raise SystemExit("no certificate A as long as B")
    with open(os.path.join(d, "tsa.cnf")) as f:
        cnf = f.read()
    with open(os.path.join(d, "tsa-b.cnf"), "w") as f:
        f.write(cnf.replace("$dir/tsa.pem", "$dir/B.pem"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime-s", type=float, default=600)
    ap.add_argument("--max-requests", type=int, default=1000)
    ap.add_argument("--init-only", action="store_true")
    ap.add_argument("--substitution-pair", action="store_true",
                    help="also make A.der/B.der and tsa-b.cnf (see substitution_pair)")
    ap.add_argument("--precision", type=int, default=0,
                    help="digits of the second in genTime (openssl's clock_precision_digits)")
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    os.makedirs(d, exist_ok=True)
    init(d, a.precision)
    if a.substitution_pair:
        substitution_pair(d)
    if a.init_only:
        return
    lock = threading.Lock()
    served = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(n, 1 << 16))
            if os.path.exists(os.path.join(d, "down")):
                self.send_response(503)
                self.end_headers()
                return
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_response(415)
                self.end_headers()
                return
            with lock, tempfile.TemporaryDirectory() as t:
                q = os.path.join(t, "q.tsq")
                r = os.path.join(t, "r.tsr")
                with open(q, "wb") as f:
                    f.write(body)
                p = subprocess.run([OPENSSL, "ts", "-reply", "-config", os.path.join(d, "tsa.cnf"),
                                    "-queryfile", q, "-out", r], capture_output=True)
                if p.returncode != 0:
                    self.send_response(400)
                    self.end_headers()
                    return
                with open(r, "rb") as f:
                    resp = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)
            served[0] += 1
            if served[0] >= a.max_requests:
                threading.Thread(target=srv.shutdown, daemon=True).start()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    threading.Timer(a.lifetime_s, srv.shutdown).start()
    print(f"listening http://127.0.0.1:{srv.server_address[1]}/", flush=True)
    srv.serve_forever()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
