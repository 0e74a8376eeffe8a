"""`python -m aiovertexchat.emulator --port 8080`: the same command as `aiovertexchat emulator`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
