import asyncio
import contextlib

from bot.app import main

with contextlib.suppress(KeyboardInterrupt):
    asyncio.run(main())
