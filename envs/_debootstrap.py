"""Find debootstrap, or fetch it from the Debian mirror (signature-checked) when the host lacks it.

The base image is bootstrapped from Debian packages where no registry answers.  A host
without the ``debootstrap`` package should not need a manual install step: debootstrap is
a shell script in an architecture-independent package, so we download that package from
the same mirror the bootstrap uses, check it the way apt would (the suite's ``InRelease``
signed by a key in the Debian archive keyring, then SHA-256 of the package index, then of
the package), unpack it into the user's cache directory, and run it from there with
``DEBOOTSTRAP_DIR`` pointing at its scripts.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from envs._sandbox import ImageBuildError

Progress = Callable[[str], None]

DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_INDEX = "main/binary-all/Packages.xz"
_DOWNLOAD_TIMEOUT_S = 60.0
# Only what debootstrap needs at run time is unpacked from its package.
_KEEP = ("usr/sbin/debootstrap", "usr/share/debootstrap/")


@dataclass(frozen=True)
class Debootstrap:
    """How to run debootstrap: the command, and environment variables it needs."""

    command: str
    env: dict[str, str] = field(default_factory=dict)
    origin: str = "host"  # "host" (installed package) or "fetched" (from the mirror)


def find_debootstrap(
    mirror: str,
    suite: str,
    progress: Progress,
    *,
    keyring: Path = DEBIAN_KEYRING,
    cache_dir: Path | None = None,
) -> Debootstrap:
    """The host's debootstrap if installed, else a verified copy fetched from ``mirror``.

    Raises :class:`ImageBuildError` naming the fix when neither is possible.
    """
    installed = shutil.which("debootstrap") or shutil.which(
        "debootstrap", path="/usr/sbin:/sbin:/usr/local/sbin"
    )
    if installed is not None:
        return Debootstrap(installed)
    missing = [tool for tool in ("wget", "gpgv") if shutil.which(tool) is None]
    if not keyring.is_file():
        missing.append(f"the Debian archive keyring ({keyring})")
    if missing:
        raise ImageBuildError(
            "no image registry is reachable and debootstrap is not installed, so the "
            "harness base image cannot be built; fetching debootstrap automatically needs "
            f"{', '.join(missing)}: run `apt-get install debootstrap` (as root) and try again"
        )
    cache = (cache_dir or _default_cache_dir()) / "debootstrap"
    for existing in sorted(cache.glob("debootstrap-*"), reverse=True):
        found = _unpacked(existing)
        if found is not None:
            return found
    progress(f"debootstrap is not installed; fetching it from {mirror} ({suite})...")
    return _fetch(mirror.rstrip("/"), suite, keyring, cache)


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness"


def _unpacked(directory: Path) -> Debootstrap | None:
    script = directory / "usr/sbin/debootstrap"
    scripts = directory / "usr/share/debootstrap"
    if not (script.is_file() and (scripts / "functions").is_file()):
        return None
    return Debootstrap(str(script), {"DEBOOTSTRAP_DIR": str(scripts)}, origin="fetched")


def _fetch(mirror: str, suite: str, keyring: Path, cache: Path) -> Debootstrap:
    release = _verified_release(_download(f"{mirror}/dists/{suite}/InRelease"), keyring)
    index_sum = release.get(_INDEX)
    if index_sum is None:
        raise ImageBuildError(f"{mirror} suite {suite} lists no {_INDEX} in its InRelease")
    packed = _download(f"{mirror}/dists/{suite}/{_INDEX}")
    _check_sha256(packed, index_sum, _INDEX)
    entry = _package_entry(lzma.decompress(packed).decode("utf-8", "replace"), "debootstrap")
    version = entry.get("Version", "")
    if not re.fullmatch(r"[A-Za-z0-9.+~:-]+", version) or "Filename" not in entry:
        raise ImageBuildError(f"{mirror}: malformed debootstrap entry in {_INDEX}")
    deb = _download(f"{mirror}/{entry['Filename']}")
    _check_sha256(deb, entry.get("SHA256", ""), entry["Filename"])
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"debootstrap-{version.replace(':', '_')}"
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        _unpack_deb(deb, staging)
        if _unpacked(staging) is None:
            raise ImageBuildError(f"{entry['Filename']} does not contain debootstrap")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # atomic: a half-unpacked copy is never found
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = _unpacked(target)
    assert found is not None
    return found


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageBuildError(f"cannot download {url}: {reason}") from exc


def _verified_release(in_release: bytes, keyring: Path) -> dict[str, str]:
    """SHA-256 sums from a clearsigned InRelease, read only from the part gpgv verified."""
    proc = subprocess.run(
        ["gpgv", "--keyring", str(keyring), "--output", "-", "-"],
        input=in_release,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ImageBuildError(
            "the mirror's InRelease does not carry a valid signature from the Debian "
            f"archive keyring ({detail[-1] if detail else 'gpgv failed'})"
        )
    sums: dict[str, str] = {}
    in_sha256 = False
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if not line.startswith(" "):
            in_sha256 = line.strip() == "SHA256:"
            continue
        parts = line.split()
        if in_sha256 and len(parts) == 3:
            sums[parts[2]] = parts[0]
    return sums


def _check_sha256(data: bytes, expected: str, what: str) -> None:
    if hashlib.sha256(data).hexdigest() != expected.strip().lower():
        raise ImageBuildError(f"{what} from the mirror does not match its signed checksum")


def _package_entry(index: str, package: str) -> dict[str, str]:
    """The (last) stanza of ``package`` in a Packages index, as field -> value."""
    found: dict[str, str] | None = None
    for stanza in index.split("\n\n"):
        if not stanza.startswith(f"Package: {package}\n"):
            continue
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            name, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):
                fields[name] = value.strip()
        found = fields
    if found is None:
        raise ImageBuildError(f"the mirror's {_INDEX} has no {package} package")
    return found


def _unpack_deb(deb: bytes, dest: Path) -> None:
    """Extract debootstrap's files from a .deb (an ar archive holding data.tar.*)."""
    if not deb.startswith(b"!<arch>\n"):
        raise ImageBuildError("the downloaded debootstrap package is not a .deb archive")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset : offset + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip() or 0)
        body = deb[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            _extract_data(name, body, dest)
            return
    raise ImageBuildError("the downloaded debootstrap package has no data archive")


def _extract_data(name: str, body: bytes, dest: Path) -> None:
    if name.endswith(".zst"):
        try:
            body = subprocess.run(
                ["zstd", "-dc"], input=body, capture_output=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ImageBuildError(f"cannot decompress {name} (is zstd installed?)") from exc
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
        members = [
            member
            for member in tar.getmembers()
            if member.name.removeprefix("./").startswith(_KEEP)
            and (member.isfile() or member.isdir() or member.issym())
        ]
        # Suite scripts are symlinks to each other (bookworm -> sid); the "data" filter
        # refuses absolute paths, links pointing out of dest and device files.
        tar.extractall(dest, members=members, filter="data")
