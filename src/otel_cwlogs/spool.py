"""A directory of log events waiting for CloudWatch: kept across an outage, a crash, a restart.

The processor writes here what it cannot deliver (while delivery is failing, while memory is
short, and at shutdown), and takes segments back, oldest first, when delivery works, whichever
process wrote them. Several processes may share one directory.

On disk, one **segment** is one file of events for one stream, at most one PutLogEvents
request's worth. Its first line is a JSON header: the format version, the log group, stream
and entity, the number of events, the CRC-32 of the rest of the file and, when the events may
have reached CloudWatch already, ``possible_duplicates``; each further line is one event, the
JSON array ``[timestamp_ms, message]``. Its name is ``<first event's ms>-<write time in
ns>-<stream key>-<random>``, so names sort oldest first and say which stream they hold
(:func:`route_key`) without being read.

Ownership is decided by ``flock``, a lock the kernel releases when its holder dies however it
dies (SIGKILL, the OOM killer, a container stopped), never by whether a process id is alive:
in a container the next process often has the same id.

- A segment is written as ``<name>.tmp``, locked while it is written, flushed and
  ``fsync``-ed, renamed to ``<name>.seg`` and the directory ``fsync``-ed. Only then is it
  acknowledged: a crash part-way leaves a ``.tmp`` file, never a torn ``.seg``. A ``.tmp``
  file nobody holds a lock on and older than :data:`ABANDONED_TMP_S` is removed.
- A segment is claimed for delivery by locking it and renaming it ``<name>.claim``; the claim
  holds the lock until the segment is delivered (and deleted) or put back (renamed ``.seg``).
  A ``.claim`` file nobody holds a lock on was left by a process that is gone: it is taken
  over, and its events count as possible duplicates (they may have been delivered).

The directory must belong to this user and be writable by nobody else; the package makes it
(and any missing parent) with mode 0700, and its files with mode 0600, whatever the umask.
Files in it that belong to another user are left alone. A segment whose header or checksum
does not match is renamed ``.bad`` and its events are counted as dropped (``spool_corrupt``).
``max_bytes`` bounds the directory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._diag import logger
from ._fork import reinit_in_child
from .events import TIMESTAMP, LogEvent, make_event
from .routing import Route

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no spool (open_spool says so)
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
ABANDONED_TMP_S = 60.0
"""A ``.tmp`` file nobody holds a lock on is removed once it is this old (a writer locks its
file a moment after creating it; the age keeps that moment safe)."""
USAGE_TTL_S = 1.0
"""How long a measured size of the directory is trusted (its own writes are added to it)."""

REFUSAL_REASONS = {
    "spool_full": "the spool directory is at spool_max_bytes",
    "disk_full": "the file system of the spool directory is full",
    "spool_unwritable": "the spool directory cannot be written",
}
"""Why a write was refused; each is the reason its events are counted under if dropped."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def route_key(route: Route) -> str:
    """The short key of a stream that names its segments (16 hex digits)."""
    text = f"{route.group}\n{route.stream}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def _key_of(name: str) -> str:
    """The stream key in a segment's file name ('' for a name of another format)."""
    parts = name.split(".", 1)[0].split("-")
    return parts[2] if len(parts) == 4 and len(parts[2]) == 16 else ""


@dataclass
class Segment:
    """A claimed segment: where it goes, what it holds, and the lock that makes it ours."""

    path: Path
    route: Route
    events: list[LogEvent]
    possible_duplicates: bool
    """Taken over from a process that is gone, or written so: they may have been delivered."""
    fd: int


@dataclass(frozen=True)
class Claim:
    """What one look at the directory found."""

    segment: Segment | None
    """The oldest segment nobody else holds, now this process's; None if there is none."""
    bad: int
    """Events in segments that could not be read (renamed ``.bad``)."""
    on_disk: frozenset[str]
    """The keys (:func:`route_key`) of the streams with segments in the directory besides
    the one taken."""


def encode(route: Route, events: Sequence[LogEvent], possible_duplicates: bool = False) -> bytes:
    """A segment's bytes."""
    body = b"".join(
        json.dumps([timestamp, message], ensure_ascii=False).encode("utf-8") + b"\n"
        for timestamp, message, _ in events
    )
    header: dict[str, object] = {
        "v": FORMAT_VERSION,
        "group": route.group,
        "stream": route.stream,
        "entity": route.entity,
        "events": len(events),
        "crc32": zlib.crc32(body),
    }
    if possible_duplicates:
        header["possible_duplicates"] = True
    return json.dumps(header).encode("utf-8") + b"\n" + body


def decode(data: bytes) -> tuple[Route, list[LogEvent], bool]:
    """A segment's route, events and possible-duplicates flag; ValueError if it is not a
    whole, valid segment."""
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
    return route, events, bool(header.get("possible_duplicates", False))


def refusal_reason(error: OSError) -> str:
    """The drop reason for a write the operating system refused."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk_full"
    return "spool_unwritable"


class SpoolUnusable(Exception):
    """The spool directory cannot be used; the message says why."""


def prepare(directory: str | os.PathLike[str]) -> Path:
    """The spool directory, made (mode 0700) if missing; SpoolUnusable if it cannot be used."""
    if fcntl is None:  # pragma: no cover - not POSIX
        raise SpoolUnusable("the spool needs file locks (fcntl.flock), which this system lacks")
    path = Path(directory).absolute()
    if path.is_symlink() and not path.exists():
        raise SpoolUnusable("it is a symbolic link to nothing")
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for component in reversed(missing):
        try:
            os.mkdir(component, 0o700)
            os.chmod(component, 0o700)
        except FileExistsError:
            continue
        except NotADirectoryError:
            raise SpoolUnusable("a part of the path is a file, not a directory") from None
        except OSError as error:
            raise SpoolUnusable(f"it could not be made: {error.strerror or error}") from None
    try:
        info = os.stat(path)
    except OSError as error:
        raise SpoolUnusable(error.strerror or str(error)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise SpoolUnusable("it is not a directory")
    if info.st_uid != os.geteuid():
        raise SpoolUnusable(
            f"it belongs to another user (uid {info.st_uid}; this process runs as "
            f"uid {os.geteuid()}): another user could read the events or plant segments"
        )
    if info.st_mode & 0o022:
        raise SpoolUnusable(
            f"it is writable by other users (mode {stat.S_IMODE(info.st_mode):04o}): another "
            "user could plant segments; chmod 700 it"
        )
    if os.statvfs(path).f_flag & os.ST_RDONLY:
        raise SpoolUnusable("it is on a read-only file system")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise SpoolUnusable("this user cannot write to it")
    return path


def spool_directory(directory: str, setting: str) -> Path | None:
    """The spool directory, ready (see :func:`prepare`); or None after one warning naming
    ``setting`` when it cannot be used: the process then runs without a spool."""
    try:
        return prepare(directory)
    except SpoolUnusable as problem:
        logger.warning(
            "%s=%r cannot be used: %s; log records are kept in memory only (no spool)",
            setting,
            directory,
            problem,
        )
        return None


class Spool:
    """One process's handle on a spool directory (see :func:`prepare`)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._init_state()
        reinit_in_child(self._after_fork)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()
        """Descriptors this process holds locks through (claims, files being written)."""
        self._used = 0
        self._used_at = float("-inf")
        self._foreign_reported = False
        self._stuck: set[str] = set()
        """Segments delivered that could not be removed: never taken again here."""

    def _after_fork(self) -> None:
        """In a forked child: the parent's locks stay the parent's. A lock is released when
        every descriptor of its file is closed, so the child closes its copies (otherwise a
        claim of a parent that dies would stay held while the child lives)."""
        held = self._held
        self._init_state()
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)

    def describe(self, refusal: str) -> str:
        """What a refusal reason means, for this directory."""
        return f"{REFUSAL_REASONS.get(refusal, refusal)} ({self.directory})"

    # -- writing -----------------------------------------------------------------------------

    def used_bytes(self) -> int:
        total = 0
        for entry in os.scandir(self.directory):
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat(follow_symlinks=False).st_size
        return total

    def write(
        self, route: Route, events: Sequence[LogEvent], possible_duplicates: bool = False
    ) -> str | None:
        """Write one segment: None once it is durably on disk, else why it was refused
        (a key of :data:`REFUSAL_REASONS`)."""
        data = encode(route, events, possible_duplicates)
        name = (
            f"{events[0][TIMESTAMP]:013d}-{time.time_ns():019d}-{route_key(route)}-"
            f"{uuid.uuid4().hex[:8]}"
        )
        try:
            with self._lock:  # the bound holds for this process's writers; others race a little
                now = time.monotonic()
                if now - self._used_at > USAGE_TTL_S:
                    self._used, self._used_at = self.used_bytes(), now
                if self._used + len(data) > self.max_bytes:
                    return "spool_full"
                self._used += len(data)
            self._write_file(name, data)
        except OSError as error:
            return refusal_reason(error)
        return None

    def _write_file(self, name: str, data: bytes) -> None:
        temporary = self.directory / f"{name}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = self._hold(os.open(temporary, flags | getattr(os, "O_CLOEXEC", 0), 0o600))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.rename(temporary, self.directory / f"{name}.seg")
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        finally:
            self._release_fd(fd)
        self._sync_directory()

    def _sync_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _hold(self, fd: int) -> int:
        with self._lock:
            self._held.add(fd)
        return fd

    def _release_fd(self, fd: int) -> None:
        with self._lock:
            self._held.discard(fd)
        os.close(fd)

    # -- taking back -------------------------------------------------------------------------

    def claim(self) -> Claim:
        """Look at the directory once: take the oldest segment nobody else holds, remove
        abandoned temporary files, and note which streams have other segments waiting."""
        bad = 0
        found: Segment | None = None
        keys: set[str] = set()
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(".tmp"):
                self._remove_if_abandoned(name)
                continue
            if not name.endswith((".seg", ".claim")):
                continue
            if name in self._stuck:
                continue
            if found is not None:
                keys.add(_key_of(name))
                continue
            taken = self._lock_file(name)
            if taken is None:
                keys.add(_key_of(name))
                continue
            fd, path, taken_over = taken
            try:
                route, events, flagged = decode(_read_all(fd))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError, OSError):
                bad += self._set_aside(fd, path)
                continue
            found = Segment(path, route, events, flagged or taken_over, fd)
        keys.discard("")
        return Claim(found, bad, frozenset(keys))

    def _lock_file(self, name: str) -> tuple[int, Path, bool] | None:
        """(descriptor, path, taken over) of a segment now locked by this process, or None
        when another process holds it, it is gone, or it is not this user's."""
        path = self.directory / name
        try:
            fd = self._hold(os.open(path, _OPEN_FLAGS))
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                self._report_foreign(name)
                raise BlockingIOError
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            current = os.stat(path, follow_symlinks=False)
            if (current.st_dev, current.st_ino) != (info.st_dev, info.st_ino):
                raise FileNotFoundError  # renamed meanwhile: what is there is another file
            if name.endswith(".seg"):
                claimed = path.with_name(name[: -len(".seg")] + ".claim")
                os.rename(path, claimed)
                return fd, claimed, False
            return fd, path, True
        except OSError:
            self._release_fd(fd)
            return None

    def _report_foreign(self, name: str) -> None:
        if not self._foreign_reported:
            self._foreign_reported = True
            logger.warning(
                "spool: %s in %s is not a file of this user; it is left alone", name, self.directory
            )

    def _remove_if_abandoned(self, name: str) -> None:
        path = self.directory / name
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            return
        try:
            info = os.fstat(fd)
            if time.time() - info.st_mtime < ABANDONED_TMP_S or info.st_uid != os.geteuid():
                return
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
        except OSError:
            return
        finally:
            os.close(fd)

    def _set_aside(self, fd: int, path: Path) -> int:
        """Rename an unreadable segment ``.bad``; the number of events its header names."""
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            head = _read_all(fd).partition(b"\n")[0]
            count = int(json.loads(head).get("events", 0))
        except (ValueError, AttributeError, OSError):
            count = 0
        with contextlib.suppress(OSError):
            os.rename(path, path.with_name(path.name.split(".")[0] + ".bad"))
        self._release_fd(fd)
        return count

    def done(self, segment: Segment) -> None:
        """The segment was delivered: remove it, then let go of its lock. One that cannot be
        removed (a file system turned read-only) is not taken again by this process, which
        would deliver it again and again."""
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            self._stuck.add(segment.path.name)
            logger.error(
                "spool: %s was delivered but cannot be removed (%s); another process may "
                "deliver it again",
                segment.path,
                error.strerror or error,
            )
        finally:
            self._release_fd(segment.fd)

    def release(self, segment: Segment) -> None:
        """Delivery failed: put the segment back for a later try (by any process). If it
        cannot be renamed back, it stays a claim nobody holds, which the next look takes."""
        base = segment.path.name.split(".")[0]
        try:
            with contextlib.suppress(OSError):
                os.rename(segment.path, segment.path.with_name(base + ".seg"))
        finally:
            self._release_fd(segment.fd)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
