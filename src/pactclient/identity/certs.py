"""TLS certificates made from device keys, and the pinned ``ssl`` contexts that use them.

Python's ``ssl`` has no verify callback, so a peer cannot be accepted "if its key is in a set" after
the fact: OpenSSL must find a trust anchor for the certificate the peer shows. Pinning is therefore
built from two certificates per key, both derived from the Ed25519 device key alone:

* the **device certificate** a device shows in the handshake: subject ``OU=pact device, CN=<fingerprint>``,
  issuer ``OU=pact key, CN=<fingerprint>``, signed with the device key itself;
* a **pin anchor** each device makes locally for every key it trusts: a CA certificate with subject
  ``OU=pact key, CN=<fingerprint>`` holding that public key (signed by the local device; its own signature is
  never checked, an anchor is trusted because it is in the local store).

OpenSSL then accepts a peer exactly when its certificate is signed by a pinned key (the anchor's), and
TLS 1.3's CertificateVerify proves that the peer holds the private key of the certificate. A stranger's
key, or a certificate naming a pinned key but not signed by it, fails the handshake before any
application byte is exchanged. ``peer_key`` additionally checks that the certificate's own key is the
key that signed it, so the identity of a session is always one pinned Ed25519 key.
"""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import tempfile
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from pactclient.errors import RemoteProtocolError
from pactclient.identity.device import DeviceIdentity, fingerprint

# Fixed validity: a device certificate is a wrapper around a key, whose lifetime is the key's own.
NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc)
SERVER_NAME = "pact"  # sent as SNI on ordinary sync connections
INVITE_SERVER_NAME = "invite.pact"  # sent as SNI by a device redeeming an invite


def _name(role: str, fp: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                      x509.NameAttribute(NameOID.COMMON_NAME, fp)])


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=False, encipher_only=False, decipher_only=False)


def device_certificate(identity: DeviceIdentity) -> bytes:
    """PEM of this device's TLS certificate (deterministic: the same key always gives the same bytes):
    issued by its party key when the device is certified by one (made on pairing), else by itself."""
    if identity.certificate is not None:
        return identity.certificate
    return issue_certificate(identity.private_key, identity.public_key)


def issue_certificate(party_key: Ed25519PrivateKey, device_public: bytes) -> bytes:
    """PEM of the TLS certificate of device key ``device_public``, issued (signed) by ``party_key``.
    A peer that pinned the party key accepts it; a device of one key issues its own."""
    party_public = party_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pact device", fingerprint(device_public)))
        .issuer_name(_name("pact key", fingerprint(party_public)))
        .public_key(Ed25519PublicKey.from_public_bytes(device_public))
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(False), critical=True)
        .sign(party_key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def pin_anchor(public_key: bytes, signer: DeviceIdentity) -> bytes:
    """PEM of the local trust anchor that admits device certificates signed by ``public_key``."""
    fp = fingerprint(public_key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pact key", fp))
        .issuer_name(_name("pact key", fp))
        .public_key(Ed25519PublicKey.from_public_bytes(public_key))
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(True), critical=True)
        .sign(signer.private_key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def peer_key(der: bytes | None, pinned: Iterable[bytes] = ()) -> bytes:
    """The Ed25519 device key of a peer's certificate (DER, from ``getpeercert(binary_form=True)``)."""
    return peer_identity(der, pinned)[0]


def peer_identity(der: bytes | None, pinned: Iterable[bytes] = ()) -> tuple[bytes, bytes]:
    """(device key, party key) of a peer's certificate: issued by the device's own key (a party of one
    key) or by one of the ``pinned`` party keys, whose signature over it is checked here again."""
    if not der:
        raise RemoteProtocolError("the peer showed no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise RemoteProtocolError(f"the peer's certificate is not a pact device certificate: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise RemoteProtocolError("the peer's certificate does not hold an Ed25519 key")
    if cert.subject != _name("pact device", fingerprint(raw)):
        raise RemoteProtocolError("the peer's certificate does not name its own key")
    if cert.issuer == _name("pact key", fingerprint(raw)):
        party = raw
    else:
        party = next((k for k in pinned if cert.issuer == _name("pact key", fingerprint(k))), None)
        if party is None:
            raise RemoteProtocolError("the peer's certificate was issued by a key that is not pinned here")
    try:
        Ed25519PublicKey.from_public_bytes(party).verify(cert.signature, cert.tbs_certificate_bytes)
    except (InvalidSignature, ValueError):
        raise RemoteProtocolError("the peer's certificate is not signed by the key it names as issuer") from None
    return raw, party


class _Contexts:
    """Builds contexts; the device's key and certificate are loaded from a private temporary directory
    (``load_cert_chain`` only reads files) that is removed at once."""

    def __init__(self, identity: DeviceIdentity):
        self.identity = identity
        self._cert = device_certificate(identity)
        self._key = identity.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self._anchors: dict[bytes, str] = {}

    def _base(self, server: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False  # the peer is named by its key, never by a host name
        tmp = tempfile.mkdtemp(prefix="pact-tls-")  # mode 0700
        try:
            cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self._key)
            with open(cert_path, "wb") as f:
                f.write(self._cert)
            ctx.load_cert_chain(cert_path, key_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return ctx

    def _pin(self, ctx: ssl.SSLContext, keys: Iterable[bytes]) -> ssl.SSLContext:
        ctx.verify_mode = ssl.CERT_REQUIRED
        pems = []
        for key in keys:
            if key not in self._anchors:
                self._anchors[key] = pin_anchor(key, self.identity).decode()
            pems.append(self._anchors[key])
        if pems:
            ctx.load_verify_locations(cadata="".join(pems))
        return ctx

    def server(self, pinned: Iterable[bytes]) -> ssl.SSLContext:
        return self._pin(self._base(True), pinned)

    def client(self, pinned: Iterable[bytes]) -> ssl.SSLContext:
        return self._pin(self._base(False), pinned)

    def invite_server(self) -> ssl.SSLContext:
        """For redeeming an invite only: the joiner's key is not known yet, so no client certificate is
        asked for; the joiner proves the invite's secret inside the encrypted channel instead."""
        ctx = self._base(True)
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


def tls_contexts(identity: DeviceIdentity) -> _Contexts:
    """``.server(pinned_keys)``, ``.client(pinned_keys)`` and ``.invite_server()`` for this device."""
    return _Contexts(identity)
