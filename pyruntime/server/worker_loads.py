"""`WorkerLoads`: how many connections each worker holds, in memory the workers share.

Workers share one listening socket (supervisor.py), and the kernel wakes them all for a new
connection: which one accepts it is a race, and an idle worker wins it again and again
before the others are even scheduled. With the table a worker that holds more connections
than another waits a moment (acceptor.Acceptor), so that connections opened together spread
over the workers.

The supervisor creates the table (a memfd, one signed 64-bit count per worker slot) and
sends it with the listening socket. Each worker writes only its own slot; -1 marks a slot
whose worker does not accept: not started, stopping, or dead (the supervisor marks that).
"""

from __future__ import annotations

import mmap
import os

ABSENT = -1
_COUNT_BYTES = 8


class WorkerLoads:
    """The table over its memfd `fd` (which it closes: the mapping keeps the memory)."""

    def __init__(self, fd: int) -> None:
        try:
            self._map = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self._counts = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, workers: int) -> tuple[WorkerLoads, int]:
        """A new table of `workers` absent slots, and a descriptor to send to the workers."""
        fd = os.memfd_create("pyruntime-worker-loads", os.MFD_CLOEXEC)
        os.ftruncate(fd, max(workers, 1) * _COUNT_BYTES)
        shared = os.dup(fd)
        loads = cls(fd)
        for slot in range(len(loads._counts)):
            loads._counts[slot] = ABSENT
        return loads, shared

    def __len__(self) -> int:
        return len(self._counts)

    def set(self, slot: int, connections: int) -> None:
        """This worker's count (ABSENT: it does not accept)."""
        self._counts[slot] = connections

    def get(self, slot: int) -> int:
        return self._counts[slot]

    def busier(self, slot: int) -> bool:
        """Whether another accepting worker holds fewer connections than `slot`'s."""
        counts = self._counts
        mine = counts[slot]
        return any(0 <= count < mine for index, count in enumerate(counts) if index != slot)
