"""Trusted time: export with --tsa against a local RFC 3161 authority (``openssl ts -reply`` on 127.0.0.1)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import shared_contract
from pactclient.errors import RemoteProtocolError
from pactclient.evidence import encode, fileformat, summary, verify_bytes
from pactclient.evidence import timestamp

CONFIG = """
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = Local Test TSA
[ ext ]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = critical,timeStamping
keyUsage = critical,digitalSignature
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = {dir}/serial
signer_cert = {dir}/tsa.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
certs = {dir}/tsa.crt
"""


def _openssl_has_ts() -> bool:
    exe = shutil.which("openssl")
    if exe is None:
        return False
    return subprocess.run([exe, "ts", "-help"], capture_output=True, timeout=30).returncode in (0, 1)


pytestmark = pytest.mark.skipif(not _openssl_has_ts(), reason="openssl with the ts command is not installed")


@pytest.fixture
def authority(tmp_path):
    """A timestamp authority at http://127.0.0.1:PORT/ answering with ``openssl ts -reply``."""
    d = tmp_path / "tsa"
    d.mkdir()
    (d / "serial").write_text("01\n")
    (d / "tsa.cnf").write_text(CONFIG.format(dir=d))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d / "tsa.key"), "-out", str(d / "tsa.crt"), "-days", "30",
                    "-config", str(d / "tsa.cnf"), "-extensions", "ext"], check=True, capture_output=True, timeout=60)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                (d / "q.tsq").write_bytes(query)
                subprocess.run(["openssl", "ts", "-reply", "-config", str(d / "tsa.cnf"), "-queryfile",
                                str(d / "q.tsq"), "-out", str(d / "r.tsr")], capture_output=True, timeout=60)
                reply = (d / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", d / "tsa.crt"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_stamped_evidence_verifies_and_a_changed_token_fails(tmp_path, make_party, authority):
    url, ca = authority
    _, wa = make_party(tmp_path, "Alice")
    _, wb = make_party(tmp_path, "Priya", "BT")
    cid = shared_contract([wa, wb], roles=("customer", "supplier"))
    data = encode(wa, cid, stamp=lambda digest: timestamp.request(url, digest))
    container = fileformat.unpack(data)
    assert container.token

    verdict = verify_bytes(data, str(ca))
    assert verdict.valid, verdict.failures
    stamp = summary(verdict)["timestamp"]
    assert stamp["trusted"] and "Local Test TSA" in stamp["tsa"] and stamp["time"]
    assert verify_bytes(data).valid  # checked against the token's own certificate

    # A token from the authority over another file's digest does not stamp this one.
    other = fileformat.with_token(data, timestamp.request(url, b"\x00" * 32), wa.identity.sign)
    assert any("timestamp" in f for f in verify_bytes(other, str(ca)).failures)
    start = len(data) - len(container.token) - 64
    for offset in range(0, len(container.token) + 64, max(1, len(container.token) // 40)):
        mutated = bytearray(data)
        mutated[start + offset] ^= 0x01
        assert not verify_bytes(bytes(mutated), str(ca)).valid, offset


def test_an_unreachable_authority_is_one_clear_error(tmp_path, make_party):
    _, wa = make_party(tmp_path, "Alice")
    cid = wa.create("Mail", {}, "customer")
    with pytest.raises(RemoteProtocolError, match="cannot reach the timestamp authority"):
        encode(wa, cid, stamp=lambda digest: timestamp.request("http://127.0.0.1:9/", digest))


def test_the_documented_timestamp_recipe_works(tmp_path, make_party, authority):
    from test_evidence_checker import run_recipe

    url, ca = authority
    _, wa = make_party(tmp_path, "Alice")
    cid = wa.create("Mail", {}, "customer")
    data = encode(wa, cid, stamp=lambda digest: timestamp.request(url, digest))
    steps = ("step 1", "step 2", "step 3", "timestamp")
    proc = run_recipe(data, tmp_path / "check", steps, files={"tsa-ca.pem": ca.read_bytes()})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("Signature Verified Successfully") == 2 and "Verification: OK" in proc.stdout
    assert "ALL CHECKS PASSED" in proc.stdout

    # A token whose authority certificate was changed: the seal no longer verifies.
    tampered = bytearray(data)
    tampered[-100] ^= 0x01
    proc = run_recipe(bytes(tampered), tmp_path / "tampered", steps, files={"tsa-ca.pem": ca.read_bytes()})
    assert proc.returncode != 0 and proc.stdout.count("Signature Verified Successfully") < 2
