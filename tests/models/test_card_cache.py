"""load_card keeps cards per process by path and content (a catalog lookup validates every card,
several times per job); a changed card is read again, even one of the same size rewritten within
the file system's timestamp resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from reelfix.errors import ModelError
from reelfix.models.card import ModelCard, load_card, write_card


def test_a_changed_card_is_read_again(tmp_path: Path) -> None:
    path = write_card(ModelCard(name="m", file="m.onnx", scale=2, licence="MIT", source="tests", sha256="0" * 64), tmp_path)
    first = load_card(path)
    assert load_card(path) is first  # unchanged: the card kept
    path.write_text(path.read_text().replace('"scale": 2', '"scale": 4'))  # same size, at once
    assert load_card(path).scale == 4
    path.write_text(path.read_text().replace('"scale": 4', '"scale": 16'))
    assert load_card(path).scale == 16
    path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_card(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_card(path)
    path.unlink()
    with pytest.raises(ModelError, match="not found"):
        load_card(path)
