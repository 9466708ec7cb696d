"""A steward worker on Telethon: its SQLite session is the file steward names.

Telethon keeps a path ending in ".session" as it is. Run with
STEWARD_EXAMPLE_OFFLINE=1 (as the tests do) to use the session storage
without connecting.
"""

import asyncio
import os
import signal

from telethon import TelegramClient
from telethon.sessions import SQLiteSession

path = os.environ["STEWARD_SESSION_FILE"]


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    offline = os.environ.get("STEWARD_EXAMPLE_OFFLINE") == "1"
    client = TelegramClient(
        SQLiteSession(path),
        int(os.environ.get("API_ID", "0")),
        os.environ.get("API_HASH", ""),
    )
    if offline:
        # The storage call a first connect makes, minus the network.
        client.session.set_dc(2, "149.154.167.51", 443)
        client.session.save()
    else:
        await client.start()
    print(f"telethon session {os.path.basename(path)} open, dc {client.session.dc_id}", flush=True)

    await stop.wait()  # SIGTERM: save and leave
    if offline:
        client.session.close()
    else:
        await client.disconnect()
    print("telethon worker stopped cleanly", flush=True)


asyncio.run(main())
