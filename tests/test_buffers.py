"""Frame-sized arrays on recycled memory (`reelfix.buffers`): reused only once no array uses them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from reelfix import buffers

BIG = (1024, 1024, 3)  # 12 MB of float32: over MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    buffers.release_idle()
    yield
    buffers.set_limit(buffers.DEFAULT_LIMIT)
    buffers.release_idle()


def test_arrays_are_like_np_empty_and_small_ones_are_plain() -> None:
    a = buffers.empty(BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    a[...] = 1.5
    assert float(a.sum(dtype=np.float64)) == 1.5 * a.size
    small = buffers.empty((8, 8), np.float16)
    assert small.flags.owndata and small.dtype == np.float16


def test_memory_comes_back_only_when_no_array_uses_it() -> None:
    a = buffers.empty(BIG)
    where = a.ctypes.data
    view = a[::2, :, 1]  # a view keeps the memory in use after its array's name is gone
    del a
    b = buffers.empty(BIG)
    assert not np.shares_memory(b, view) and b.ctypes.data != where
    view[...] = 7.0
    b[...] = 3.0
    assert (view == 7.0).all()  # nothing else writes into memory still in use
    del view
    c = buffers.empty(BIG)
    assert c.ctypes.data == where  # now idle: handed out again, no fresh pages
    assert buffers.stats()["reused"] >= 1


def test_the_limit_bounds_what_is_kept_and_large_arrays_are_plain() -> None:
    nbytes = int(np.prod(BIG)) * 4
    buffers.set_limit(4 * nbytes)
    kept = [buffers.empty(BIG) for _ in range(4)]
    assert buffers.stats()["held"] == 4 * nbytes
    before = buffers.stats()["plain"]
    extra = buffers.empty(BIG)  # a fifth would pass the limit while the four are in use: a plain array
    assert extra.flags.owndata and buffers.stats()["plain"] == before + 1
    del kept
    buffers.empty(BIG)  # reuses one of the four, now idle
    assert buffers.stats()["held"] <= 4 * nbytes
    assert buffers.empty((2048, 2048, 3)).flags.owndata  # over a quarter of the limit: plain
    assert buffers.release_idle() > 0 and buffers.stats()["held"] == 0


def test_threads_never_share_memory() -> None:
    got: list[np.ndarray] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(k: int) -> None:
        start.wait()
        for _ in range(10):
            a = buffers.empty(BIG)
            a.fill(k)
            with lock:
                got.append(a)
                if len(got) > 8:
                    got.pop(0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, a in enumerate(got):
        assert all(not np.shares_memory(a, b) for b in got[i + 1 :])
        assert (a == a.flat[0]).all()  # no other thread wrote into it


def test_zeros_are_zero_on_recycled_memory_too() -> None:
    a = buffers.empty(BIG)
    a.fill(5.0)
    del a
    z = buffers.zeros(BIG)
    assert not z.flags.owndata and not z.any()  # the recycled mapping, cleared
    assert not buffers.zeros((4, 4)).any() and buffers.zeros((4, 4)).flags.owndata


def test_small_pages_while_a_job_runs_and_numpys_setting_back_after() -> None:
    switch = buffers._hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page switch")
    get, set_ = switch
    before = bool(get())
    try:
        set_(True)
        with buffers.small_pages():
            assert not get()
            with buffers.small_pages():  # nested (a job inside a job, or two threads): the outer one restores
                assert not get()
            assert not get()
        assert get()
    finally:
        set_(before)


def test_trim_hands_freed_heap_back_and_is_harmless_where_there_is_no_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = [np.ones(4096, np.float32) for _ in range(64)]  # live blocks among freed ones
    freed = [np.ones(256 * 1024, np.float32) for _ in range(64)]
    del freed
    buffers.trim()
    assert all(float(k.sum()) == 4096.0 for k in kept)  # nothing alive is touched
    monkeypatch.setattr(buffers, "_malloc_trim", lambda: None)
    buffers.trim()
