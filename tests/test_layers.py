"""The inner layers stay free of UI and networking: importing them must not pull in textual, zeroconf or asyncio."""

import subprocess
import sys


def test_core_layers_import_no_ui_or_network():
    code = (
        "import sys\n"
        "import pactclient.model, pactclient.signing, pactclient.store, pactclient.sync.bundle, pactclient.catalog\n"
        "import pactclient.sync\n"
        "bad = [m for m in ('textual', 'zeroconf', 'asyncio', 'ssl', 'socket') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
