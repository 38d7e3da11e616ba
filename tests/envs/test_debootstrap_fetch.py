"""Fetching debootstrap from a Debian mirror when the host lacks it: verified, cached, refused if tampered.

The mirror is a local HTTP server on 127.0.0.1 laid out like a Debian mirror, signed with
a throwaway GnuPG key made for the test (standing in for the Debian archive keyring).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from envs import ImageBuildError
from envs import _debootstrap as fetch_module
from envs._debootstrap import find_debootstrap

pytestmark = pytest.mark.skipif(
    shutil.which("gpg") is None or shutil.which("gpgv") is None, reason="needs gpg and gpgv"
)

FAKE_SCRIPT = b'#!/bin/sh\necho "fake debootstrap $1 scripts=$DEBOOTSTRAP_DIR"\n'


@dataclass
class Mirror:
    url: str
    root: Path
    keyring: Path
    requests: list[str] = field(default_factory=list)


def _ar(members: dict[str, bytes]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, body in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n"
        out += header.encode() + body + (b"\n" if len(body) % 2 else b"")
    return bytes(out)


def _tar_xz(files: dict[str, tuple[bytes, int]], links: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for directory in ("./usr", "./usr/sbin", "./usr/share", "./usr/share/debootstrap"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, (body, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), mode
            tar.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return lzma.compress(raw.getvalue())


def _fake_deb() -> bytes:
    data = _tar_xz(
        {
            "./usr/sbin/debootstrap": (FAKE_SCRIPT, 0o755),
            "./usr/share/debootstrap/functions": (b"# functions\n", 0o644),
            "./usr/share/debootstrap/scripts/sid": (b"# suite\n", 0o644),
            "./usr/share/man/man8/debootstrap.8": (b"not wanted\n", 0o644),
        },
        # As in the real package: most suite scripts are symlinks to sid.
        {"./usr/share/debootstrap/scripts/bookworm": "sid"},
    )
    return _ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar_xz({}), "data.tar.xz": data})


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    cmd = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback"]
    proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True, check=True)
    return proc.stdout


def _make_key(home: Path) -> None:
    home.mkdir(mode=0o700)
    _gpg(home, "--passphrase", "", "--quick-gen-key", "Mirror <m@example.org>", "ed25519")


@pytest.fixture(scope="module")
def signing_homes() -> Iterator[tuple[Path, Path]]:
    """Two throwaway keys: the trusted mirror key and a stranger's."""
    # A short path: gpg-agent's socket path must fit in a sockaddr_un.
    base = Path(tempfile.mkdtemp(prefix="hgpg-", dir="/tmp"))
    trusted, stranger = base / "t", base / "s"
    _make_key(trusted)
    _make_key(stranger)
    try:
        yield trusted, stranger
    finally:
        for home in (trusted, stranger):
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _build_mirror(root: Path, sign_home: Path, deb: bytes, deb_sha: str | None = None) -> None:
    pool = root / "pool/main/d/debootstrap"
    pool.mkdir(parents=True)
    (pool / "debootstrap_1.0.128_all.deb").write_bytes(deb)
    stanza = (
        "Package: other\nVersion: 1\nFilename: pool/x.deb\nSHA256: 00\n\n"
        "Package: debootstrap\nVersion: 1.0.128+nmu2+deb12u1\n"
        "Description: Bootstrap a basic Debian system\n continued description line\n"
        "Filename: pool/main/d/debootstrap/debootstrap_1.0.128_all.deb\n"
        f"SHA256: {deb_sha or hashlib.sha256(deb).hexdigest()}\n"
    )
    packages = lzma.compress(stanza.encode())
    index = root / "dists/bookworm/main/binary-all"
    index.mkdir(parents=True)
    (index / "Packages.xz").write_bytes(packages)
    release = (
        "Origin: Debian\nSuite: stable\nCodename: bookworm\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} main/binary-all/Packages.xz\n"
    )
    signed = _gpg(sign_home, "--clearsign", "--output", "-", stdin=release.encode())
    (root / "dists/bookworm/InRelease").write_bytes(signed)


@pytest.fixture
def mirror(tmp_path: Path, signing_homes: tuple[Path, Path]) -> Iterator[Mirror]:
    trusted, _ = signing_homes
    root = tmp_path / "mirror"
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(_gpg(trusted, "--export"))
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            target = root / self.path.lstrip("/")
            if not target.is_file():
                self.send_error(404)
                return
            body = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://127.0.0.1:{server.server_port}/", root, keyring, requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_host_debootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(name: str, *args: object, **kwargs: object) -> str | None:
        return None if name == "debootstrap" else real_which(name)

    monkeypatch.setattr(fetch_module.shutil, "which", which)


def test_installed_debootstrap_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module.shutil, "which", lambda name, **kw: "/usr/sbin/debootstrap")
    found = find_debootstrap("http://127.0.0.1:9/", "bookworm", lambda _: None)
    assert (found.command, found.env, found.origin) == ("/usr/sbin/debootstrap", {}, "host")


@pytest.mark.usefixtures("no_host_debootstrap")
def test_fetched_verified_unpacked_and_cached(
    mirror: Mirror, signing_homes: tuple[Path, Path], tmp_path: Path
) -> None:
    _build_mirror(mirror.root, signing_homes[0], _fake_deb())
    messages: list[str] = []
    cache = tmp_path / "cache"
    found = find_debootstrap(
        mirror.url, "bookworm", messages.append, keyring=mirror.keyring, cache_dir=cache
    )
    assert found.origin == "fetched"
    assert any("fetching it from" in message for message in messages)
    unpacked = cache / "debootstrap" / "debootstrap-1.0.128+nmu2+deb12u1"
    assert Path(found.command) == unpacked / "usr/sbin/debootstrap"
    assert found.env == {"DEBOOTSTRAP_DIR": str(unpacked / "usr/share/debootstrap")}
    assert not (unpacked / "usr/share/man").exists()  # only what debootstrap runs with
    assert (unpacked / "usr/share/debootstrap/scripts/bookworm").read_text() == "# suite\n"
    run = subprocess.run(
        [found.command, "--version"], env=found.env, capture_output=True, text=True, check=True
    )
    assert run.stdout == f"fake debootstrap --version scripts={found.env['DEBOOTSTRAP_DIR']}\n"

    fetched = list(mirror.requests)
    assert fetched == [
        "/dists/bookworm/InRelease",
        "/dists/bookworm/main/binary-all/Packages.xz",
        "/pool/main/d/debootstrap/debootstrap_1.0.128_all.deb",
    ]
    again = find_debootstrap(
        mirror.url, "bookworm", messages.append, keyring=mirror.keyring, cache_dir=cache
    )
    assert again == found and mirror.requests == fetched  # from the cache, no download


@pytest.mark.usefixtures("no_host_debootstrap")
def test_package_not_matching_the_signed_index_is_refused(
    mirror: Mirror, signing_homes: tuple[Path, Path], tmp_path: Path
) -> None:
    _build_mirror(mirror.root, signing_homes[0], _fake_deb(), deb_sha="ab" * 32)
    with pytest.raises(ImageBuildError, match="does not match its signed checksum"):
        find_debootstrap(
            mirror.url, "bookworm", lambda _: None, keyring=mirror.keyring, cache_dir=tmp_path
        )
    assert not list((tmp_path / "debootstrap").glob("debootstrap-*"))  # nothing half-cached


@pytest.mark.usefixtures("no_host_debootstrap")
def test_release_signed_by_an_unknown_key_is_refused(
    mirror: Mirror, signing_homes: tuple[Path, Path], tmp_path: Path
) -> None:
    _build_mirror(mirror.root, signing_homes[1], _fake_deb())  # the stranger signs
    with pytest.raises(ImageBuildError, match="valid signature"):
        find_debootstrap(
            mirror.url, "bookworm", lambda _: None, keyring=mirror.keyring, cache_dir=tmp_path
        )
    assert mirror.requests == ["/dists/bookworm/InRelease"]  # stopped before the index


@pytest.mark.usefixtures("no_host_debootstrap")
def test_unreachable_mirror_is_one_clear_error(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(ImageBuildError, match=r"cannot download .*InRelease"):
        find_debootstrap(
            mirror.url, "bookworm", lambda _: None, keyring=mirror.keyring, cache_dir=tmp_path
        )


def test_missing_tools_name_the_manual_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fetch_module.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(ImageBuildError, match=r"needs wget, gpgv.*apt-get install debootstrap"):
        find_debootstrap(
            "http://127.0.0.1:9/", "bookworm", lambda _: None, keyring=tmp_path / "none.gpg"
        )
