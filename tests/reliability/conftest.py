"""The reference every fault test compares with: a small temporal job run once, uninterrupted."""

from __future__ import annotations

import numpy as np
import pytest

from tests.reliability.helpers import cli, make_job, outputs


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[int, np.ndarray]:
    folder = tmp_path_factory.mktemp("reference")
    code, text = cli("run", make_job(folder))
    assert code == 0, text
    return outputs(folder)
