"""A steward worker that keeps its state in Pyrogram's own session storage,
opened exactly as pyrogram.Client opens it (FileStorage(name, workdir) and
open()), with no network. Each run reads the counter the previous run left
in the storage (user_id), stores its own, and appends what it saw to
$RESULTS. Run 1 exits by itself (steward restarts it); later runs write
every 50 ms until SIGTERM, then save and close."""

import asyncio
import os
import signal
import sys
from pathlib import Path

from pyrogram.storage import FileStorage


def report(line):
    with open(os.environ["RESULTS"], "a") as out:
        out.write(line + "\n")


async def main():
    f = Path(os.environ["STEWARD_SESSION_FILE"])
    existed = f.exists()
    storage = FileStorage(f.stem, f.parent)
    try:
        await storage.open()
        previous = await storage.user_id()
    except Exception as e:  # what Client.connect() would hit
        report(f"FAILED {type(e).__name__}: {e} (file existed: {existed})")
        sys.exit(3)
    run = (previous or 0) + 1
    await storage.user_id(run)
    await storage.save()
    report(f"run {run} pid {os.getpid()} saw {previous}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        if run == 1:
            return
        while not stop.is_set():
            await storage.dc_id(2)
            await storage.save()
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
    except Exception as e:  # "database is locked" would land here
        report(f"FAILED {type(e).__name__}: {e}")
        sys.exit(4)
    finally:
        await storage.close()


asyncio.run(main())
