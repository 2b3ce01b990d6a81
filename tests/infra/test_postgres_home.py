"""Where the native cluster lives when the `postgres` user cannot enter the checkout: pure."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.postgres import OUTSIDE_HOME, cluster_home, reachable_by

NOBODY = (65534, 65534)  # neither owner nor group of the tmp folders root creates


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder that every user may enter (pytest's own tmp folders are closed to others)."""
    path = Path(tempfile.mkdtemp(prefix="pg-home-"))
    path.chmod(0o755)
    yield path
    for folder in (path, *path.rglob("*")):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    shutil.rmtree(path)


def test_a_folder_closed_to_others_is_unreachable(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "repo" / ".local").mkdir(parents=True)
    closed.chmod(0o700)
    assert not reachable_by(closed / "repo" / ".local" / "postgres", *NOBODY)
    closed.chmod(0o711)  # enter, but not list: enough to reach a path inside
    assert reachable_by(closed / "repo" / ".local" / "postgres", *NOBODY)


def test_the_owner_and_the_group_bits_count_for_their_users(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    st = folder.stat()
    folder.chmod(0o700)
    assert reachable_by(folder, st.st_uid, -1)
    folder.chmod(0o070)
    assert reachable_by(folder, -1, st.st_gid)
    assert not reachable_by(folder, -1, -1)


def test_not_root_keeps_the_cluster_under_local(tmp_path: Path) -> None:
    assert cluster_home(tmp_path / ".local", as_root=False) == tmp_path / ".local" / "postgres"


def test_a_link_left_by_an_earlier_start_is_followed(tmp_path: Path) -> None:
    local, target = tmp_path / ".local", tmp_path / "elsewhere"
    local.mkdir()
    target.mkdir()
    (local / "postgres").symlink_to(target)
    assert cluster_home(local, as_root=True) == target.resolve()


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback is for root (runuser -u postgres)")
def test_as_root_an_unreachable_checkout_moves_the_cluster_out(tmp_path: Path) -> None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user yet (Debian's package is not installed)")
    closed = tmp_path / "closed"
    (closed / ".local").mkdir(parents=True)
    closed.chmod(0o700)
    home = cluster_home(closed / ".local", as_root=True)
    assert home.parent == OUTSIDE_HOME
    assert home == cluster_home(closed / ".local", as_root=True)  # stable for one checkout
    closed.chmod(0o755)
    assert cluster_home(closed / ".local", as_root=True) == closed / ".local" / "postgres"
