"""A steward worker talking to steward's aria2c through aria2p.

steward gives ARIA2_RPC_URL as a full URL (http://127.0.0.1:PORT/jsonrpc)
and ARIA2_RPC_SECRET; aria2p wants the host and the port apart and adds
"/jsonrpc" itself.
"""

import os
import signal
import threading
from urllib.parse import urlsplit

import aria2p

url = urlsplit(os.environ["ARIA2_RPC_URL"])
api = aria2p.API(
    aria2p.Client(
        host=f"{url.scheme}://{url.hostname}",
        port=url.port,
        secret=os.environ.get("ARIA2_RPC_SECRET", ""),
    )
)

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())

version = api.client.get_version()["version"]
print(f"aria2 {version} answers, {len(api.get_downloads())} downloads", flush=True)
# Real work: api.add_uris(["https://..."], options={"dir": ...}) and polling
# api.get_download(gid). steward's aria2c saves and resumes them across
# restarts; a worker only adds and watches.
stop.wait()
print("aria2p worker stopped cleanly", flush=True)
