"""Where models are found, and the sha256 check before any model is loaded.

Search order (first match wins): folders in `REELFIX_MODEL_PATH` (os.pathsep-separated),
the user's model folder (`$REELFIX_HOME/models`, default `~/.local/share/reelfix/models`),
then the built-in models shipped inside the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .card import CARD_SUFFIX, ModelCard, load_card, sha256_of

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def user_model_dir() -> Path:
    home = os.environ.get("REELFIX_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "reelfix"
    return base / "models"


def search_dirs() -> list[tuple[str, Path]]:
    dirs: list[tuple[str, Path]] = []
    for part in os.environ.get("REELFIX_MODEL_PATH", "").split(os.pathsep):
        if part.strip():
            dirs.append(("REELFIX_MODEL_PATH", Path(part.strip()).expanduser()))
    dirs.append(("user", user_model_dir()))
    dirs.append(("built-in", BUILTIN_DIR))
    return dirs


@dataclass(frozen=True)
class ModelEntry:
    card: ModelCard
    card_path: Path
    origin: str

    @property
    def onnx_path(self) -> Path:
        return self.card_path.parent / self.card.file


def list_models() -> list[ModelEntry]:
    """Every model found, first occurrence of each name only; unreadable cards are skipped here
    (`reelfix models verify` reports them)."""
    seen: dict[str, ModelEntry] = {}
    for origin, folder in search_dirs():
        if not folder.is_dir():
            continue
        for card_path in sorted(folder.glob(f"*{CARD_SUFFIX}")):
            try:
                card = load_card(card_path)
            except ModelError:
                continue
            seen.setdefault(card.name, ModelEntry(card, card_path, origin))
    return list(seen.values())


def find_model(name_or_path: str) -> ModelEntry:
    """A model by catalog name, or by path to an .onnx file with its card beside it."""
    if name_or_path.endswith(".onnx") or os.sep in name_or_path or "/" in name_or_path:
        onnx_path = Path(name_or_path).expanduser()
        card_path = onnx_path.with_suffix("").with_name(onnx_path.stem + CARD_SUFFIX)
        if not onnx_path.is_file():
            raise ModelError(f"model file not found: {onnx_path}")
        if not card_path.is_file():
            raise ModelError(
                f"model {onnx_path} has no card ({card_path.name} expected beside it)",
                hint="adopt the model with `reelfix models convert MODEL.onnx --name NAME` to write its card",
            )
        return ModelEntry(load_card(card_path), card_path, "path")
    for entry in list_models():
        if entry.card.name == name_or_path:
            return entry
    known = ", ".join(e.card.name for e in list_models()) or "(none)"
    raise ModelError(f"unknown model '{name_or_path}'", hint=f"known models: {known}; see `reelfix models list`")


_verified: dict[tuple[str, int, int], str] = {}


def verify(entry: ModelEntry) -> Path:
    """Check the model file exists and its sha256 matches the card; return its path.

    The hash is computed once per (file, mtime, size) in a process.
    """
    path = entry.onnx_path
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelError(
            f"model '{entry.card.name}': file {path} is missing (card {entry.card_path})",
            hint="re-install the model or remove its card",
        ) from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    digest = _verified.get(key) or sha256_of(path)
    if digest != entry.card.sha256:
        raise ModelError(
            f"model '{entry.card.name}': sha256 of {path} is {digest[:12]}..., its card says {entry.card.sha256[:12]}...",
            hint="the file was changed or corrupted; re-install or re-convert it",
        )
    _verified[key] = digest
    return path


def default_model_for(task: str, scale: int) -> str:
    """The built-in model for a task and scale (upscale x2 -> span-x2). No built-in model upscales
    x3: for x3 the upscale node runs span-x4 and resamples its result down to x3."""
    if task == "upscale":
        return f"span-x{4 if scale == 3 else scale}"
    raise ModelError(f"no built-in model for task '{task}'")
