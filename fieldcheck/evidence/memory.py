"""Process memory settings for decoding photos: keep the large pixel buffers for reuse."""

from __future__ import annotations

import ctypes
import logging
import platform
import threading

log = logging.getLogger(__name__)

# mallopt() parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Above the ~36 MB of one decoded 12 MP photo, so its buffers come from the malloc heaps.
MMAP_THRESHOLD = 64 * 1024 * 1024
# Freed heap memory is kept up to this much rather than handed back to the kernel.
TRIM_THRESHOLD = 1024 * 1024 * 1024

_lock = threading.Lock()
_done = False


def keep_decoder_memory() -> None:
    """Have glibc keep the memory of decoded photos in the process between uploads.

    Checking a 12 MP photo takes about 50 MB of pixel buffers. With glibc's defaults in a
    threaded server they are returned to the kernel after each photo and faulted in afresh
    for the next: about 15,000 page faults and a third more CPU per upload, measured under
    gunicorn. Raising the mmap and trim thresholds keeps that memory for reuse (the process
    then holds on to its peak). Called once per process; does nothing without glibc.
    """
    global _done
    with _lock:
        if _done:
            return
        _done = True
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            return
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            return
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(
            _M_TRIM_THRESHOLD, TRIM_THRESHOLD
        )
        if not ok:
            log.warning("glibc refused the malloc thresholds for photo decoding")
