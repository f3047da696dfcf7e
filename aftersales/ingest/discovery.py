"""What the inbox holds: every directory entry, classified without following or opening anything.

The inbox is written by people and scripts, so it can hold more than exports: symbolic links
(to a file or folder inside or outside the inbox, or dangling), FIFOs, sockets, device nodes.
Only regular files are read. Everything else is listed with a one-line reason, so it is
ledgered as `skipped` (never silently absent) and never opened: a link is never followed (no
row from outside the inbox, no /etc/passwd), a FIFO never blocks the batch.

Listing uses `lstat` only (`os.scandir` entries, `follow_symlinks=False`); real sub-folders are
descended, linked ones are not. Between listing and reading, a file can be swapped for a link
or another file: `open_inbox_file` opens each path component relative to the inbox with
`O_NOFOLLOW` (a link anywhere in the path fails the open), never blocks (`O_NONBLOCK`), checks
on the opened descriptor that it is a regular file and, given the identity seen when listing,
that it is still the same file (st_dev, st_ino).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aftersales.ingest.errors import FileRejected

_MAX_LINK_TEXT = 160
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY | os.O_NOFOLLOW


class UnreadableInboxFile(FileRejected, OSError):
    """An inbox file that cannot be opened for reading (vanished since listing, permission denied).

    Both a FileRejected (the file is skipped with `reason`, the run goes on) and an OSError
    (callers that treat any failed open as an unreadable file skip it the same way).
    """

    def __init__(self, reason: str, cause: OSError | None = None):
        super().__init__(reason)
        # as the OSError it stands for, so `exc.strerror or exc` reads the same either way
        if cause is not None:
            self.errno, self.strerror = cause.errno, cause.strerror

    def __str__(self) -> str:
        return self.reason


class UnsafeInboxFile(UnreadableInboxFile):
    """An inbox path that is not (or is no longer) a regular file inside the inbox."""


@dataclass(frozen=True)
class InboxItem:
    path: Path  # inbox / rel, as listed (never resolved)
    rel: str  # path relative to the inbox, POSIX separators
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of a regular file when listed
    problem: str | None = None  # why it is not read; None for a regular file


@dataclass
class InboxListing:
    files: list[InboxItem] = field(default_factory=list)  # regular files, relative-path order
    refused: list[InboxItem] = field(default_factory=list)  # everything else, relative-path order
    _identities: dict[str, tuple[int, int] | None] = field(default_factory=dict, repr=False)

    def identity(self, rel: str) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the regular file listed at `rel`, to pass to `open_inbox_file`."""
        if len(self._identities) != len(self.files):
            self._identities = {i.rel: i.identity for i in self.files}
        return self._identities.get(rel)


def list_inbox(inbox: Path, exclude: Collection[str] = ()) -> InboxListing:
    """Every entry under `inbox` except real folders (descended) and the relative paths in `exclude`.

    Iterative (a hostile tree thousands of folders deep costs no recursion); a folder that cannot
    be listed is itself a refused entry. OSError only when the inbox itself cannot be listed.
    """
    inbox = Path(inbox)
    listing = InboxListing()
    excluded = set(exclude)
    folders = [inbox]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if folder == inbox:
                raise
            rel = folder.relative_to(inbox).as_posix()
            listing.refused.append(InboxItem(folder, rel, problem=f"unreadable folder: {_os_reason(exc)}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            rel = path.relative_to(inbox).as_posix()
            if rel in excluded:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:  # vanished since the folder was read
                listing.refused.append(InboxItem(path, rel, problem=f"unreadable entry: {_os_reason(exc)}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                folders.append(path)
            elif stat.S_ISREG(st.st_mode):
                listing.files.append(InboxItem(path, rel, identity=(st.st_dev, st.st_ino)))
            else:
                listing.refused.append(InboxItem(path, rel, problem=not_regular_reason(path, st.st_mode)))
    listing.files.sort(key=lambda i: i.rel)
    listing.refused.sort(key=lambda i: i.rel)
    return listing


def not_regular_reason(path: Path, mode: int) -> str:
    """One line saying what the entry is and that it is not read."""
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)  # the link's own text; the target is never touched
        except OSError:
            target = "?"
        shown = target if len(target) <= _MAX_LINK_TEXT else target[:_MAX_LINK_TEXT] + "..."
        return (
            f"symbolic link to {shown!r}: links are never followed, only regular files in the inbox are read"
        )
    what = {
        stat.S_IFIFO: "a FIFO (named pipe)",
        stat.S_IFSOCK: "a socket",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFDIR: "a folder",
    }.get(stat.S_IFMT(mode), "an entry of unknown type")
    return f"{what}, not a regular file: only regular files in the inbox are read"


def regular_file_problem(inbox: Path, rel: str) -> str | None:
    """None when `inbox/rel` is a regular file reached without any link; else why not (one line)."""
    path = Path(inbox) / rel
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot be read: {_os_reason(exc)}"
    if not stat.S_ISREG(st.st_mode):
        return not_regular_reason(path, st.st_mode)
    try:
        open_inbox_file(inbox, rel, (st.st_dev, st.st_ino)).close()
    except UnsafeInboxFile as exc:
        return exc.reason
    except OSError as exc:
        return f"cannot be read: {_os_reason(exc)}"
    return None


def open_inbox_file(inbox: Path, rel: str, identity: tuple[int, int] | None = None) -> BinaryIO:
    """Open `inbox/rel` for reading, binary, without following a link anywhere below the inbox.

    Raises UnsafeInboxFile when a path component is a link, the file is not a regular file, or
    (given `identity` from listing) it is no longer the file that was listed; UnreadableInboxFile
    for any other failed open (vanished, permission denied). Both are FileRejected and OSError.
    Never blocks on a FIFO.
    """
    parts = [p for p in Path(rel).parts if p not in ("", ".")]
    if not parts or ".." in parts or Path(rel).is_absolute():
        raise UnsafeInboxFile(f"{rel!r} is not a path inside the inbox")
    dir_fd = os.open(inbox, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = _open_at(part, _DIR_FLAGS, dir_fd, f"folder {part!r} of {rel}")
            os.close(dir_fd)
            dir_fd = next_fd
        fd = _open_at(parts[-1], _READ_FLAGS, dir_fd, rel)
    except UnreadableInboxFile:
        raise
    except OSError as exc:
        raise UnreadableInboxFile(f"unreadable file: {_os_reason(exc)}", exc) from None
    finally:
        os.close(dir_fd)
    return _checked(fd, Path(inbox) / rel, identity)


def open_regular(path: Path, identity: tuple[int, int] | None = None) -> BinaryIO:
    """Open a listed inbox file for reading, binary: the drop-in for `open(path, "rb")` in readers.

    The last component must not be a link (O_NOFOLLOW), a FIFO never blocks (O_NONBLOCK), the
    opened descriptor must be a regular file and, given `identity` (`InboxItem.identity`, or the
    identity of an earlier open of the same file), the very file listed: a folder or file swapped
    for a link after listing leads to another inode and is refused. UnsafeInboxFile when not;
    UnreadableInboxFile (a FileRejected and an OSError) when the open fails (vanished, denied).
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafeInboxFile(f"{Path(path).name} is a symbolic link: links are never followed") from None
        raise UnreadableInboxFile(f"unreadable file: {_os_reason(exc)}", exc) from None
    return _checked(fd, Path(path), identity)


def file_identity(fh: BinaryIO) -> tuple[int, int]:
    """(st_dev, st_ino) of an open file, to check a later open reads the same file."""
    st = os.fstat(fh.fileno())
    return st.st_dev, st.st_ino


def _checked(fd: int, path: Path, identity: tuple[int, int] | None) -> BinaryIO:
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeInboxFile(not_regular_reason(path, st.st_mode))
        if identity is not None and (st.st_dev, st.st_ino) != tuple(identity):
            raise UnsafeInboxFile("replaced by another file while the batch was reading the inbox")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # ordinary blocking reads from here
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _open_at(name: str, flags: int, dir_fd: int, what: str) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            # O_NOFOLLOW on a link fails with ELOOP (ENOTDIR for a link where a folder was expected)
            raise UnsafeInboxFile(
                f"{what} is a symbolic link or not a folder: links are never followed"
            ) from None
        raise


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
