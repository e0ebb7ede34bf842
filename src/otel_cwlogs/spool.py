"""A directory of log events waiting for CloudWatch: kept across an outage, a crash, a restart.

The processor writes here what it cannot deliver (while delivery is failing, and at shutdown
or a fatal signal), and takes segments back, oldest first, when delivery works, whichever
process wrote them. Several processes may share one directory.

On disk, one **segment** is one file of events for one stream, at most one PutLogEvents
request's worth. Its first line is a JSON header: the format version, the log group, stream
and entity, the number of events and the CRC-32 of the rest of the file; each further line is
one event, the JSON array ``[timestamp_ms, message]``. A segment's life is a series of
renames, each atomic on a POSIX file system:

- written as ``<name>.tmp``, flushed and ``fsync``-ed, then renamed to ``<name>.seg`` (and the
  directory ``fsync``-ed). Only then is it acknowledged as spooled: a crash part-way leaves a
  ``.tmp`` file, never a torn ``.seg``, and the ``.tmp`` files of processes that are gone are
  removed.
- claimed for delivery by renaming it to ``<name>.seg.<host>.<pid>.claim``: of several processes
  trying at once, exactly one succeeds.
- deleted once delivered; renamed back to ``.seg`` if delivery failed. A claim whose process is
  gone (killed between sending and deleting) is taken over by the next process on the same
  host, and its events are counted as possible duplicates: they may have been delivered.

``<name>`` starts with the first event's timestamp (13 digits of ms), so names sort oldest
first. A segment whose header or checksum does not match is renamed ``.bad`` and its events
are counted as dropped (``spool_corrupt``). ``max_bytes`` bounds the directory: a segment that
does not fit is not written, and the caller counts its events (``spool_full``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .events import LogEvent, make_event
from .routing import Route

FORMAT_VERSION = 1
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname()) or "host"
"""This host's name as it appears in file names (letters and digits only)."""


@dataclass
class Segment:
    """A claimed segment: where it goes, what it holds, and whether it was taken over."""

    path: Path
    route: Route
    events: list[LogEvent]
    taken_over: bool
    """Claimed by a process that is gone: its events may have been delivered already."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def encode(route: Route, events: Sequence[LogEvent]) -> bytes:
    """A segment's bytes."""
    body = b"".join(
        json.dumps([e.timestamp, e.message], ensure_ascii=False).encode("utf-8") + b"\n"
        for e in events
    )
    header = {
        "v": FORMAT_VERSION,
        "group": route.group,
        "stream": route.stream,
        "entity": route.entity,
        "events": len(events),
        "crc32": zlib.crc32(body),
    }
    return json.dumps(header).encode("utf-8") + b"\n" + body


def decode(data: bytes) -> tuple[Route, list[LogEvent]]:
    """A segment's route and events; ValueError if it is not a whole, valid segment."""
    head, _, body = data.partition(b"\n")
    header = json.loads(head)
    if header.get("v") != FORMAT_VERSION or zlib.crc32(body) != header.get("crc32"):
        raise ValueError("not a segment of this version, or its checksum does not match")
    lines = body.splitlines()
    if len(lines) != header.get("events"):
        raise ValueError("event count does not match")
    route = Route(str(header["group"]), str(header["stream"]), header.get("entity"))
    events = []
    for line in lines:
        timestamp, message = json.loads(line)
        events.append(make_event(int(timestamp), str(message)))
    return route, events


class Spool:
    """One process's handle on a spool directory."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._numbers = itertools.count()

    # -- writing -----------------------------------------------------------------------------

    def used_bytes(self) -> int:
        total = 0
        for entry in os.scandir(self.directory):
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat().st_size
        return total

    def write(self, route: Route, events: Sequence[LogEvent]) -> bool:
        """Write one segment; True once it is durably on disk, False if it does not fit."""
        data = encode(route, events)
        name = (
            f"{events[0].timestamp:013d}-{_HOST}-{os.getpid()}-{next(self._numbers):08d}-"
            f"{uuid.uuid4().hex[:8]}"
        )
        with self._lock:  # the bound holds for this process's writers; others race a little
            if self.used_bytes() + len(data) > self.max_bytes:
                return False
            temporary = self.directory / f"{name}.tmp"
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.rename(temporary, self.directory / f"{name}.seg")
            self._sync_directory()
        return True

    def _sync_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    # -- taking back -------------------------------------------------------------------------

    def claim(self) -> tuple[Segment | None, int]:
        """The oldest segment, now this process's to deliver, and the number of events found
        in segments that could not be read (renamed ``.bad``). (None, n) when there is none.
        """
        mine = f".{_HOST}.{os.getpid()}.claim"
        bad = 0
        names = sorted(os.listdir(self.directory))
        for name in names:
            if name.endswith(".tmp"):
                self._remove_abandoned_tmp(self.directory / name)
        for name in names:
            path = self.directory / name
            taken_over = False
            if name.endswith(".seg"):
                target = path.with_name(name + mine)
            elif name.endswith(".claim") and self._abandoned(name):
                target = path.with_name(name.rsplit(".", 3)[0] + mine)
                taken_over = True
            else:
                continue
            try:
                os.rename(path, target)
            except FileNotFoundError:  # another process claimed it first
                continue
            try:
                route, events = decode(target.read_bytes())
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                bad += self._set_aside(target)
                continue
            return Segment(target, route, events, taken_over), bad
        return None, bad

    @staticmethod
    def _abandoned(name: str) -> bool:
        """Whether a claim belongs to a process of this host that is gone."""
        parts = name.split(".")
        host, pid = parts[-3], parts[-2]
        return host == _HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))

    @staticmethod
    def _remove_abandoned_tmp(path: Path) -> None:
        parts = path.name.split("-")
        if len(parts) >= 3 and parts[1] == _HOST and parts[2].isdigit():
            pid = int(parts[2])
            if pid != os.getpid() and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    @staticmethod
    def _set_aside(path: Path) -> int:
        """Rename an unreadable segment ``.bad``; the number of events its header names."""
        try:
            count = int(json.loads(path.read_bytes().partition(b"\n")[0]).get("events", 0))
        except (ValueError, AttributeError):
            count = 0
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, path.with_name(path.name.split(".")[0] + ".bad"))
        return count

    def done(self, segment: Segment) -> None:
        """The segment was delivered: remove it."""
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    def release(self, segment: Segment) -> None:
        """Delivery failed: put the segment back for a later try (by any process)."""
        base = segment.path.name.split(".")[0]
        with contextlib.suppress(FileNotFoundError):
            os.rename(segment.path, segment.path.with_name(base + ".seg"))
