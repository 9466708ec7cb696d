"""A steward worker on Pyrogram: its session is the file steward names.

steward sets STEWARD_SESSION_FILE (sessions/ID.session, which does not exist
until Pyrogram creates it) and holds the account's lock for this process.
Run with STEWARD_EXAMPLE_OFFLINE=1 (as the tests do) to open the session
storage exactly as Client.connect() does, without the network.
"""

import asyncio
import os
import signal
import tempfile
from pathlib import Path

from pyrogram import Client

session = Path(os.environ["STEWARD_SESSION_FILE"])
app = Client(
    session.stem,  # Pyrogram adds ".session" itself
    workdir=session.parent,
    api_id=int(os.environ.get("API_ID", "0")),
    api_hash=os.environ.get("API_HASH", ""),
)


async def main():
    # SIGTERM (steward's stop signal): finish the current step, save, exit 0
    # well within [worker].stop_timeout, after which steward sends SIGKILL.
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    offline = os.environ.get("STEWARD_EXAMPLE_OFFLINE") == "1"
    if offline:
        await app.storage.open()  # what Client.connect() does first
    else:
        await app.start()
    print(f"pyrogram session {session.name} open, dc {await app.storage.dc_id()}", flush=True)

    # Scratch files go under TMPDIR: steward's per-worker dir, removed when
    # the worker exits and swept if it crashed.
    with tempfile.NamedTemporaryFile(prefix="media-") as scratch:
        print(f"scratch file in {Path(scratch.name).parent}", flush=True)
        await stop.wait()

    if offline:
        await app.storage.save()
        await app.storage.close()
    else:
        await app.stop()
    print("pyrogram worker stopped cleanly", flush=True)


asyncio.run(main())
