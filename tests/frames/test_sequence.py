"""Sequence patterns, frame ranges, gaps and timecode helpers."""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import pytest

from reelfix.errors import JobError
from reelfix.frames.sequence import (
    SequencePattern,
    as_frame_rate,
    bcd_to_timecode,
    find_gaps,
    format_ranges,
    frames_to_timecode,
    parse_frame_range,
    timecode_to_bcd,
    timecode_to_frames,
)


@pytest.mark.parametrize(
    ("text", "n", "expected", "padding"),
    [
        ("shots/A001.####.exr", 1001, "A001.1001.exr", 4),
        ("shots/A001.####.exr", 7, "A001.0007.exr", 4),
        ("shots/A001.####.exr", 12345, "A001.12345.exr", 4),
        ("shots/A001.####.exr", -3, "A001.-003.exr", 4),
        ("shots/A001.%04d.exr", 42, "A001.0042.exr", 4),
        ("shots/A001.%06d.dpx", 42, "A001.000042.dpx", 6),
        ("shots/A001.%d.png", 42, "A001.42.png", 0),
        ("shots/A001.%d.png", -42, "A001.-42.png", 0),
        ("shots/A001_#.tif", 5, "A001_5.tif", 0),
    ],
)
def test_pattern_path_for(text: str, n: int, expected: str, padding: int) -> None:
    pattern = SequencePattern.parse(text)
    assert pattern.is_sequence
    assert pattern.padding == padding
    assert pattern.display == text
    assert pattern.path_for(n) == os.path.join("shots", expected)


def test_single_file_pattern() -> None:
    pattern = SequencePattern.parse("plates/A001.1001.exr")
    assert not pattern.is_sequence
    assert pattern.path_for(5) == "plates/A001.1001.exr"
    assert pattern.single_number == 1001
    assert SequencePattern.parse("still.png").single_number == 0
    assert SequencePattern.parse("A001-0042.dpx").single_number == 42
    assert SequencePattern.parse("A001.-0042.dpx").single_number == -42


def test_pattern_rejects_two_placeholders_and_space_padding() -> None:
    with pytest.raises(JobError, match="2 frame-number placeholders"):
        SequencePattern.parse("a.####.####.exr")
    with pytest.raises(JobError, match="%04d"):
        SequencePattern.parse("a.%4d.exr")


def test_scan_matches_only_the_pattern(tmp_path: Path) -> None:
    for name in ["A.0001.exr", "A.0002.exr", "A.0010.exr", "A.12345.exr", "A.-001.exr",
                 "A.001.exr", "A.0003.exr.tmp", "B.0004.exr", "A.0005.dpx", ".A.0006.exr.1.abcd1234.tmp.exr"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "A.0007.exr").mkdir()
    assert SequencePattern.parse(str(tmp_path / "A.####.exr")).scan() == [-1, 1, 2, 10, 12345]
    assert SequencePattern.parse(str(tmp_path / "A.%d.exr")).scan() == [12345]  # unpadded names only
    assert SequencePattern.parse(str(tmp_path / "missing" / "A.####.exr")).scan() == []


def test_scan_is_fast_for_10k_files(tmp_path: Path) -> None:
    for n in range(10_000):
        (tmp_path / f"plate.{n:05d}.dpx").touch()
    started = time.perf_counter()
    numbers = SequencePattern.parse(str(tmp_path / "plate.#####.dpx")).scan()
    assert numbers == list(range(10_000))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1001", [1001]),
        ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
        ("1,5,10-12", [1, 5, 10, 11, 12]),
        ("1001-1010x3", [1001, 1004, 1007, 1010]),
        (" 3 , 1-2 , 2 ", [1, 2, 3]),
        ("-5--3", [-5, -4, -3]),
    ],
)
def test_parse_frame_range(text: str, expected: list[int]) -> None:
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10-1", "ends before it starts"),
        ("abc", "cannot read 'abc'"),
        ("", "empty"),
        ("1-10x0", "step"),
        ("1,,2", "cannot read ''"),
        ("1001-1100x", "cannot read"),
    ],
)
def test_parse_frame_range_errors(text: str, message: str) -> None:
    with pytest.raises(JobError, match=message) as info:
        parse_frame_range(text)
    assert info.value.hint  # every message says what to write instead


def test_gaps_and_ranges() -> None:
    numbers = [1001, 1002, 1003, 1007, 1008, 1010, 1003]
    assert find_gaps(numbers) == [(1004, 1006), (1009, 1009)]
    assert find_gaps([]) == []
    assert format_ranges(list(range(1001, 1011)) + list(range(1012, 1021))) == "1001-1010, 1012-1020"
    assert format_ranges([5]) == "5"
    assert format_ranges([]) == ""


def test_timecode_helpers() -> None:
    fps = Fraction(24000, 1001)
    assert frames_to_timecode(timecode_to_frames("01:00:00:23", fps) + 1, fps) == "01:00:01:00"
    ntsc = Fraction(30000, 1001)
    assert frames_to_timecode(timecode_to_frames("00:00:59;29", ntsc) + 1, ntsc, True) == "00:01:00;02"
    assert frames_to_timecode(timecode_to_frames("00:09:59;29", ntsc) + 1, ntsc, True) == "00:10:00;00"
    for tc in ("01:02:03:04", "23:59:59;29"):
        assert bcd_to_timecode(timecode_to_bcd(tc)) == tc
    assert timecode_to_bcd("01:02:03:04") == 0x01020304
    with pytest.raises(JobError, match="HH:MM:SS:FF"):
        timecode_to_frames("1:2:3", fps)
    assert as_frame_rate(23.976) == Fraction(24000, 1001)
    assert as_frame_rate(25.0) == 25
    assert as_frame_rate((30000, 1001)) == Fraction(30000, 1001)
