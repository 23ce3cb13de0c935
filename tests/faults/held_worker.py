"""Runs the real `fieldcheck worker`, with every job held at one step so a test can kill it
there: `python -m tests.faults.held_worker import|export MARKER worker --burst --queue Q`.

When a job reaches the step, the process running it writes its pid to MARKER and waits
(HOLD_S at most). `import` holds after the rows are loaded, linked and merged, inside the
import's open transaction; `export` holds after the first chunk of the file was written.
The worker and its work horse die with the process that started them, so a test run that
is itself killed leaves none behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HOLD_S = 120


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux); elsewhere HOLD_S bounds it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent was already gone
            os._exit(1)


def _reached(marker: Path) -> None:
    _die_with_parent()  # the work horse: with its worker
    partial = marker.with_name(marker.name + ".tmp")
    partial.write_text(str(os.getpid()))
    partial.rename(marker)
    time.sleep(HOLD_S)
    os._exit(3)  # nobody came to kill it: give up, as a crash would


def hold_imports(marker: Path) -> None:
    from fieldcheck.registry import service

    def held(*args: Any, **kwargs: Any) -> Any:
        _reached(marker)

    service.locate_businesses = held  # type: ignore[assignment]


def hold_exports(marker: Path) -> None:
    from fieldcheck.exports.service import PreparedExport

    chunks = PreparedExport.chunks

    def held(self: PreparedExport, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for number, chunk in enumerate(chunks(self, *args, **kwargs)):
            if number == 1:  # the first chunk is in the file
                _reached(marker)
            yield chunk

    PreparedExport.chunks = held  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    _die_with_parent()  # the worker: with the test that started it
    step, marker, *cli_args = argv
    {"import": hold_imports, "export": hold_exports}[step](Path(marker))
    from api.cli import main as cli

    cli(cli_args)


if __name__ == "__main__":
    main(sys.argv[1:])
