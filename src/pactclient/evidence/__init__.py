"""Evidence: export a contract as one signed file, verify such a file offline, render a readable report.

The file format is specified byte by byte in docs/evidence.md so that anyone can check a file with
standard tools; ``fileformat`` is the container, ``export`` builds it, ``verify`` checks it and
``report`` renders the HTML page.
"""

from pactclient.evidence.export import encode, write, write_all
from pactclient.evidence.verify import Verdict, summary, verify_bytes

__all__ = ["encode", "write", "write_all", "Verdict", "summary", "verify_bytes"]
