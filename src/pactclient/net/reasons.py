"""Why dialling or listening failed, in words: the network's part of ``pactclient.reasons``.

"ConnectionRefusedError [Errno 111] Connect call failed" becomes "connection refused (nothing is
listening there)"; a TLS handshake with a device whose key is not the pinned one becomes "the device
answering there is not the one expected". Used by the one-shot commands (join, sync, pair) and the
service's redial log.
"""

from __future__ import annotations

import asyncio
import ssl

from pactclient.reasons import os_reason


def dial_failure(exc: BaseException) -> str:
    """Why dialling a peer failed, in words (never an exception class)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the device answering there is not the one expected (its key does not match)"
    if isinstance(exc, ssl.SSLError):
        return "the secure connection could not be set up (is it a pact peer?)"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return os_reason(exc)
    return str(exc)[:200] or "it failed"
