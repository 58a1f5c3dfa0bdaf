"""Output folders that never destroy what remech did not write.

Every folder remech writes (``solve``, ``compare``, ``game``, ``scenarios generate``,
``scenarios reduce``, ``scenarios plot``) carries a marker file, ``.remech-result``, with the
kind of result and the remech version. ``--force`` replaces only a folder with that marker.
A folder is written to a temporary sibling ``.<name>.tmp-<pid>`` and renamed into place;
a previous result is first renamed to ``.<name>.old-<pid>`` and removed only once the new
one is in place, so a killed run leaves either the old or the new result reachable (the
next run restores or removes such leftovers and says so). If writing fails after the work
is done (disk full, permissions), the result is kept in a fallback folder under the system
temp dir and the error says where.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from remech import __version__
from remech.errors import InputError
from remech.executor import signals_held

MARKER = ".remech-result"


def _same_or_inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def is_result(folder: Path) -> bool:
    """A folder remech wrote: it carries the marker file."""
    return (Path(folder) / MARKER).is_file()


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path("/")


def _probe_writable(folder: Path, option: str, outdir: Path) -> None:
    """Create and remove a file in ``folder`` (os.access lies for root and on some mounts)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".remech-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise InputError(f"{option} {outdir}: cannot write in {folder} ({exc.strerror}); "
                         "choose a writable location") from None


def check_outdir(outdir: Path | None, force: bool, *, option: str = "-o",
                 inside_of: Iterable[Path] = (), contains: Iterable[Path] = (),
                 kind: str | None = None) -> None:
    """Refuse an output folder remech must not replace, before any work is done.

    ``inside_of``: folders the output may not be, lie inside or contain (the instance).
    ``contains``: files or folders the output may not be or contain (the design file, the
    costs table; a new instance may not be or contain its source instance).
    """
    if outdir is None:
        return
    out = Path(outdir).absolute()
    real = Path(os.path.realpath(out))
    for name, special in (("/", Path("/")), ("the home folder", Path.home()),
                          ("the current folder", Path.cwd())):
        special = Path(os.path.realpath(special))
        if special == real or real in special.parents:
            what = name if special == real else f"a folder containing {name}"
            raise InputError(f"{option} {outdir}: is {what}; remech replaces its output "
                             "folder, so give a new folder for the results, e.g. "
                             f"{option} results/")
    for folder in inside_of:
        folder = Path(os.path.realpath(folder))
        if _same_or_inside(real, folder) or _same_or_inside(folder, real):
            relation = ("is" if real == folder else "lies inside" if folder in real.parents
                        else "contains")
            raise InputError(f"{option} {outdir}: {relation} the instance folder {folder}; "
                             "write the results to a folder outside it")
    for item in contains:
        item = Path(os.path.realpath(item))
        if _same_or_inside(item, real):
            relation = "is" if item == real else "contains"
            raise InputError(f"{option} {outdir}: {relation} the input {item}; write the "
                             "results to a folder that holds none of the inputs")
    recover_leftovers(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise InputError(f"{option} {outdir}: exists and is not a folder; remove it or "
                             f"choose another {option}")
        if any(out.iterdir()):
            if not is_result(out):
                raise InputError(f"{option} {outdir}: folder exists and is not a remech result "
                                 f"(no {MARKER}); remech replaces only folders it wrote, "
                                 f"so choose another {option}")
            if not force:
                raise InputError(f"{outdir}: output folder exists; pass --force to replace "
                                 f"it or choose another {option}")
            why = not_replaceable(out, kind)
            if why:
                raise InputError(f"{option} {outdir}: {why}; --force replaces only a result "
                                 f"of the same kind as remech wrote it, so choose another "
                                 f"{option}")
    parent = _nearest_existing(out.parent)
    if not parent.is_dir():
        raise InputError(f"{option} {outdir}: {parent} is a file, not a folder; choose a "
                         "location in a folder")
    _probe_writable(parent, option, outdir)


def recover_leftovers(outdir: Path) -> list[str]:
    """Clean what a killed run left next to ``outdir``: temporary folders of dead
    processes are removed; a previous result renamed aside is restored if ``outdir`` is
    missing, removed otherwise. Returns the notes printed on stderr."""
    outdir = Path(outdir).absolute()
    parent = outdir.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(outdir.name)}\.(tmp|old)-(\d+)$")
    notes = []
    for path in sorted(parent.iterdir()):
        match = pattern.match(path.name)
        if not match or not path.is_dir() or _alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and is_result(path) and not outdir.exists():
            path.rename(outdir)
            notes.append(f"restored {outdir} from {path.name}, left by an interrupted run")
        elif is_result(path) or match.group(1) == "tmp":
            shutil.rmtree(path, ignore_errors=True)
            notes.append(f"removed {path}, left by an interrupted run")
    for note in notes:
        print(f"[remech] {note}", file=sys.stderr)
    return notes


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _marker(kind: str, files: list[str] | None = None) -> str:
    doc = {"kind": kind, "remech_version": __version__}
    if files is not None:
        doc["files"] = files
    return json.dumps(doc) + "\n"


def write_marker(folder: Path, kind: str, files: list[str] | None = None) -> None:
    """Mark ``folder`` as a remech result of ``kind`` holding ``files``."""
    (Path(folder) / MARKER).write_text(_marker(kind, files))


def read_marker(folder: Path) -> dict:
    """The marker of a remech result folder ({} if it has none or it cannot be read)."""
    try:
        doc = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def register_files(folder: Path, names: Iterable[str]) -> None:
    """Add files remech wrote into an existing result folder (a report, its charts) to
    the folder's marker, so that ``--force`` later knows them as remech's; names listed
    before that no longer exist are dropped. A marker without a file list (written by an
    older remech) is left as it is: it lists nothing to check against."""
    folder = Path(folder)
    doc = read_marker(folder)
    if not isinstance(doc.get("files"), list):
        return
    files = {f for f in doc["files"] if (folder / f).exists()} | set(names)
    doc["files"] = sorted(files)
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(doc) + "\n")
    os.replace(tmp, folder / MARKER)


def _written(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (relative, sorted), the marker excluded."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != MARKER)


def not_replaceable(folder: Path, kind: str | None) -> str | None:
    """Why ``--force`` may not replace the remech result ``folder``: it holds another kind
    of result (an instance is not replaced by a solve), or files remech did not write
    there (listed in the marker since marker files carry the list); None if it may."""
    try:
        doc = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return f"its {MARKER} cannot be read"
    if not isinstance(doc, dict):
        return f"its {MARKER} cannot be read"
    if kind is not None and doc.get("kind") not in (None, kind):
        return f"it holds a remech {doc.get('kind')} result, not a {kind} result"
    if isinstance(doc.get("files"), list):
        extra = sorted(set(_written(Path(folder))) - set(doc["files"]))
        if extra:
            return (f"it holds {len(extra)} file(s) remech did not write there "
                    f"(e.g. {extra[0]})")
    return None


def replace_folder(outdir: Path, fill: Callable[[Path], None], force: bool,
                   kind: str) -> None:
    """Write a result folder with ``fill(folder)``: to a temporary sibling first, then
    swapped into place (the previous result, if any, stays reachable until then).

    On an OSError the result is written to a fallback folder under the system temp dir and
    an InputError says where.
    """
    outdir = Path(outdir)
    tmp = outdir.with_name(f".{outdir.name}.tmp-{os.getpid()}")
    old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        fill(tmp)
        (tmp / MARKER).write_text(_marker(kind, _written(tmp)))
        if outdir.exists():
            if any(outdir.iterdir()) and not is_result(outdir):
                raise InputError(f"{outdir}: folder exists and is not a remech result (no "
                                 f"{MARKER}); remech replaces only folders it wrote, so "
                                 "choose another -o")
            why = not_replaceable(outdir, kind) if any(outdir.iterdir()) else None
            if why:
                raise InputError(f"-o {outdir}: {why}; --force replaces only a result of "
                                 "the same kind as remech wrote it, so choose another -o")
            if any(outdir.iterdir()) and not force:
                raise FileExistsError(outdir)
            with signals_held():  # no Ctrl-C between the two renames
                outdir.rename(old)
                tmp.rename(outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(outdir)
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not outdir.exists():
            old.rename(outdir)  # put the previous result back
        fallback = rescue(fill, kind)
        where = (f"they are kept in {fallback}" if fallback
                 else "the fallback under the system temp dir failed too")
        raise InputError(f"-o {outdir}: could not write the results ({exc.strerror or exc}); "
                         f"{where}; free space or fix permissions and move them") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def rescue(fill: Callable[[Path], None], kind: str) -> Path | None:
    """Write the result to a new folder under the system temp dir; None if that fails."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"remech-{kind}-rescued-"))
        (folder / MARKER).write_text(_marker(kind))
        fill(folder)
        return folder
    except OSError:
        return None
