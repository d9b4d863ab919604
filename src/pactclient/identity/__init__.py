"""Device identity: an Ed25519 key per device, its fingerprint, and its files on disk."""

from pactclient.identity.device import DeviceIdentity, fingerprint, short_fingerprint, default_home

__all__ = ["DeviceIdentity", "fingerprint", "short_fingerprint", "default_home"]
