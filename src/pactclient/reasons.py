"""Why an operating-system call failed, in words a user reads: never an exception class or errno.

"ConnectionRefusedError [Errno 111] Connect call failed ('127.0.0.1', 7400)" tells a programmer what
happened; "connection refused" tells the user. Every layer that reports an ``OSError`` to a person
(the store opening its database, the network dialling a peer, the CLI as a last resort) words it
here. This module imports nothing from pactclient and nothing beyond the standard library's errno,
so every layer may use it (socket is not imported: a name-resolution error exists only where it is).
"""

from __future__ import annotations

import errno
import sys

_BY_ERRNO = {
    errno.ECONNREFUSED: "connection refused (nothing is listening there)",
    errno.ECONNRESET: "the connection was reset by the other side",
    errno.ECONNABORTED: "the connection was aborted",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "the host cannot be reached (no route)",
    errno.ENETUNREACH: "the network cannot be reached",
    errno.EADDRINUSE: "the address is already in use",
    errno.EADDRNOTAVAIL: "the address is not available on this machine",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.EEXIST: "it already exists",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EPIPE: "the connection was closed by the other side",
    errno.EINVAL: "an invalid argument",
}


def os_reason(exc: BaseException) -> str:
    """A short phrase for ``exc`` (an OSError, a timeout, a name-resolution failure), in plain words."""
    sockets = sys.modules.get("socket")  # not imported here: the core layers stay free of networking
    if sockets is not None and isinstance(exc, sockets.gaierror):
        return "host not found (the name cannot be resolved)"
    if isinstance(exc, TimeoutError) and not getattr(exc, "errno", None):
        return "timed out"
    if isinstance(exc, ConnectionResetError):
        return _BY_ERRNO[errno.ECONNRESET]
    code = getattr(exc, "errno", None)
    if code in _BY_ERRNO:
        return _BY_ERRNO[code]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    if isinstance(exc, EOFError):
        return "the connection was closed by the other side"
    return "it failed"


def short_path(path: object, limit: int = 120) -> str:
    """A path as a user reads it in one line: a very long one keeps its start and end."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-limit // 2:]}"


def os_failure(exc: OSError, what: str = "") -> str:
    """'/x/y: permission denied' — the file the OSError names (or ``what``), and why, in words."""
    target = what or (short_path(exc.filename) if isinstance(exc, OSError) and exc.filename else "")
    return f"{target}: {os_reason(exc)}" if target else os_reason(exc)
