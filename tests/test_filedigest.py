"""File digests and their stat cache: hits skip the read, any stat change re-hashes."""

from __future__ import annotations

import doctest
import hashlib
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runid.filedigest
from runid.errors import FileAccessError, InputError
from runid.filedigest import (
    CACHE_FILENAME,
    FileDigestCache,
    directory_files,
    file_digest,
    file_ref,
    tree_digest,
)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> FileDigestCache:
    # Window 0: a file written before hashing began is trusted (tests run in one tick).
    return FileDigestCache(tmp_path / "cache", racy_window_ns=0)


def test_digest_is_plain_sha256_of_the_bytes(tmp_path: Path, cache: FileDigestCache) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several chunks, not a multiple of the chunk size
    (tmp_path / "w.bin").write_bytes(data)
    assert cache.digest(tmp_path / "w.bin") == _sha(data)


def test_empty_file(tmp_path: Path, cache: FileDigestCache) -> None:
    (tmp_path / "e").write_bytes(b"")
    assert cache.digest(tmp_path / "e") == _sha(b"")


def test_second_call_does_not_read_the_file(tmp_path: Path, cache: FileDigestCache) -> None:
    (tmp_path / "w.bin").write_bytes(b"weights")
    first = cache.digest(tmp_path / "w.bin")
    assert cache.files_hashed == 1
    assert cache.digest(tmp_path / "w.bin") == first
    assert cache.files_hashed == 1


def test_a_new_process_hits_the_persistent_cache(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"weights")
    with FileDigestCache(tmp_path / "c", racy_window_ns=0) as one:
        one.digest(tmp_path / "w.bin")
    two = FileDigestCache(tmp_path / "c", racy_window_ns=0)
    assert two.digest(tmp_path / "w.bin") == _sha(b"weights")
    assert two.files_hashed == 0


def test_cache_hit_trusts_the_stored_digest(tmp_path: Path, cache: FileDigestCache) -> None:
    # The documented trade-off: while stat (size, mtime, ctime, inode, device) is unchanged the
    # stored digest is returned without reading a byte. Planting a different digest for the same
    # stat key proves no read happens; it also says the cache file must be protected like the
    # rest of the runid home (it is created 0700).
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights")
    cache.digest(path)
    planted = "sha256:" + "ab" * 32
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE file_digest SET digest = ?", (planted,))
    fresh = FileDigestCache(cache.path.parent, racy_window_ns=0)  # no in-memory memo yet
    assert fresh.digest(path) == planted
    assert fresh.files_hashed == 0


def test_rewriting_the_bytes_invalidates(tmp_path: Path, cache: FileDigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    path.write_bytes(b"bbbb")  # same size
    assert cache.digest(path) == _sha(b"bbbb")


def test_same_size_and_reset_mtime_still_invalidates(
    tmp_path: Path, cache: FileDigestCache
) -> None:
    # Writing then restoring the mtime moves ctime, which user code cannot set back.
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    before = path.stat()
    cache.digest(path)
    with path.open("r+b") as handle:
        handle.write(b"b")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert cache.digest(path) == _sha(b"baaa")
    assert cache.files_hashed == 2


def test_touch_invalidates(tmp_path: Path, cache: FileDigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    path.touch()
    cache.digest(path)
    assert cache.files_hashed == 2


def test_replacing_by_rename_invalidates(tmp_path: Path, cache: FileDigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    other = tmp_path / "new.bin"
    other.write_bytes(b"cccc")
    os.replace(other, path)
    assert cache.digest(path) == _sha(b"cccc")


def test_a_freshly_written_file_is_not_trusted_within_the_racy_window(tmp_path: Path) -> None:
    cache = FileDigestCache(tmp_path / "c", racy_window_ns=3_600_000_000_000)
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    cache.digest(path)
    assert cache.files_hashed == 2


def test_default_racy_window_is_two_seconds(tmp_path: Path) -> None:
    assert FileDigestCache(tmp_path).racy_window_ns == 2_000_000_000


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / CACHE_FILENAME).write_bytes(b"this is not a database" * 100)
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache = FileDigestCache(directory, racy_window_ns=0)
    assert cache.digest(path) == _sha(b"aaaa")
    assert cache.digest(path) == _sha(b"aaaa")
    assert cache.files_hashed == 1  # this process remembers what it hashed itself
    fresh = FileDigestCache(directory, racy_window_ns=0)
    assert fresh.digest(path) == _sha(b"aaaa")
    assert fresh.files_hashed == 1  # nothing was persisted in or read from the corrupt file
    assert (directory / CACHE_FILENAME).read_bytes() == b"this is not a database" * 100


def test_malformed_cache_row_is_ignored(tmp_path: Path, cache: FileDigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE file_digest SET digest = 'md5:xyz'")
    fresh = FileDigestCache(cache.path.parent, racy_window_ns=0)
    assert fresh.digest(path) == _sha(b"aaaa")
    assert fresh.files_hashed == 1


def test_unwritable_cache_directory_is_ignored(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache = FileDigestCache(blocker / "sub", racy_window_ns=0)
    assert cache.digest(path) == _sha(b"aaaa")


def test_missing_file_is_a_clear_error(tmp_path: Path, cache: FileDigestCache) -> None:
    with pytest.raises(FileAccessError) as info:
        cache.digest(tmp_path / "nope")
    assert info.value.code == "E_FILE"
    assert "no such file" in info.value.message


def test_directory_is_a_clear_error(tmp_path: Path, cache: FileDigestCache) -> None:
    with pytest.raises(FileAccessError, match="not a regular file"):
        cache.digest(tmp_path)


def test_symlinks_share_the_entry_of_their_target(tmp_path: Path, cache: FileDigestCache) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    (tmp_path / "link").symlink_to(path)
    cache.digest(path)
    assert cache.digest(tmp_path / "link") == _sha(b"aaaa")
    assert cache.files_hashed == 1


def test_file_digest_uses_the_home_cache_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNID_HOME", str(tmp_path / "home"))
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    assert file_digest(path) == _sha(b"aaaa")
    assert (tmp_path / "home" / "cache" / CACHE_FILENAME).exists()


def test_file_ref(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    assert file_ref(path, cache_dir=tmp_path / "c") == {
        "digest": _sha(b"aaaa"),
        "size": 4,
        "media_type": "application/octet-stream",
    }


def _hash_in_child(args: tuple[str, str]) -> str:
    return FileDigestCache(args[0], racy_window_ns=0).digest(args[1])


@pytest.mark.crash
def test_concurrent_processes_share_one_cache(tmp_path: Path) -> None:
    paths = []
    for i in range(8):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * 1000)
        paths.append(p)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_hash_in_child, [(str(tmp_path / "c"), str(p)) for p in paths * 3])
    assert got == [_sha(p.read_bytes()) for p in paths * 3]
    with sqlite3.connect(tmp_path / "c" / CACHE_FILENAME) as conn:
        assert conn.execute("SELECT count(*) FROM file_digest").fetchone()[0] == 8


def test_directory_files_sorted_relative_and_skip_hidden(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "a.safetensors").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text("{}")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "d.json").write_text("{}")
    (tmp_path / ".hidden").write_text("")
    assert directory_files(tmp_path) == ["a.safetensors", "b.json", "sub/c.json"]
    assert directory_files(tmp_path, [".json"]) == ["b.json", "sub/c.json"]
    with pytest.raises(FileAccessError):
        directory_files(tmp_path / "b.json")


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("/") and "\\" not in s),
        st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
        max_size=6,
    )
)
def test_tree_digest_ignores_listing_order(files: dict[str, str]) -> None:
    assert tree_digest(files) == tree_digest(dict(reversed(list(files.items()))))


def test_tree_digest_changes_with_any_file() -> None:
    base = {"a": "sha256:" + "00" * 32, "b": "sha256:" + "11" * 32}
    renamed = {"c": base["a"], "b": base["b"]}
    changed = {"a": "sha256:" + "22" * 32, "b": base["b"]}
    assert len({tree_digest(base), tree_digest(renamed), tree_digest(changed)}) == 3
    assert tree_digest(base) != tree_digest({"a": base["a"]})


def test_tree_digest_rejects_bad_input() -> None:
    with pytest.raises(InputError) as info:
        tree_digest({"a": "nope"})
    assert info.value.code == "E_FORMAT"
    with pytest.raises(InputError):
        tree_digest({"/abs": "sha256:" + "00" * 32})


def test_docstring_examples_run() -> None:
    result = doctest.testmod(runid.filedigest)
    assert result.attempted > 0
    assert result.failed == 0


def test_one_cache_serves_many_threads(tmp_path: Path, cache: FileDigestCache) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i in range(6):
        p = tmp_path / f"t{i}"
        p.write_bytes(bytes([i]) * 100)
        paths.append(p)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(cache.digest, paths * 4))
    assert got == [_sha(p.read_bytes()) for p in paths * 4]
    assert not cache._broken  # the SQLite cache stayed in use from every thread
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("SELECT count(*) FROM file_digest").fetchone()[0] == 6


def test_a_repointed_symlink_gets_its_new_target_digest(
    tmp_path: Path, cache: FileDigestCache
) -> None:
    (tmp_path / "a").write_bytes(b"aaaa")
    (tmp_path / "b").write_bytes(b"bbbb")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "a")
    assert cache.digest(link) == _sha(b"aaaa")
    link.unlink()
    link.symlink_to(tmp_path / "b")
    assert cache.digest(link) == _sha(b"bbbb")


def test_a_deleted_file_is_an_error_even_when_remembered(
    tmp_path: Path, cache: FileDigestCache
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    cache.digest(path)
    path.unlink()
    with pytest.raises(FileAccessError, match="no such file"):
        cache.digest(path)
