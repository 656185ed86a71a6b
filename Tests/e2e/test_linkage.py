"""Each binary links only the transport it serves: the C libraries an ELF names in its NEEDED entries."""

import os
import pathlib
import subprocess

import pytest

STORES = {"libpq", "libhiredis", "libcrypto", "libcrypt"}


@pytest.fixture(scope="module")
def bin_dir() -> pathlib.Path:
    return pathlib.Path(os.environ["BIN_DIR"])


def linked_libraries(binary: pathlib.Path) -> set[str]:
    """`libfcgi` for `libfcgi.so.0`: the names in the dynamic section's NEEDED entries."""
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    return {line.split("[", 1)[1].split(".so", 1)[0] for line in dynamic.splitlines() if "(NEEDED)" in line}


def test_the_websocket_daemon_links_no_fastcgi(bin_dir: pathlib.Path) -> None:
    libraries = linked_libraries(bin_dir / "leaderboard-ws")
    assert "libfcgi" not in libraries
    assert STORES <= libraries, "it does use the stores"


def test_the_fastcgi_ceiling_links_the_pool_and_no_store(bin_dir: pathlib.Path) -> None:
    libraries = linked_libraries(bin_dir / "leaderboard-bench-fcgi")
    assert "libfcgi" in libraries
    assert not STORES & libraries


def test_the_api_links_the_pool_and_the_stores(bin_dir: pathlib.Path) -> None:
    assert {"libfcgi"} | STORES <= linked_libraries(bin_dir / "leaderboard-api")
