"""`reelfix models list|info|verify`."""

from __future__ import annotations

import json

import typer

from . import console
from .cli import _guard, models_app
from .errors import ModelError
from .models.catalog import find_model, list_models, search_dirs, verify


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Built-in and installed models with scale, task, colour space, licence and precision."""
    if as_json:
        entries = [{**e.card.model_dump(mode="json"), "origin": e.origin, "path": str(e.onnx_path)} for e in list_models()]
        console.out.print_json(json.dumps(entries))
        return
    for e in list_models():
        c = e.card
        console.out.print(f"{c.name:<16} {c.task:<8} x{c.scale}  {c.precision:<5} {c.colorspace:<10} {c.licence:<14} {e.origin}", markup=False)


@models_app.command("info")
def info(name: str = typer.Argument(..., help="model name or .onnx path")) -> None:
    """Print a model's card."""

    def body() -> None:
        e = find_model(name)
        data = e.card.model_dump(mode="json")
        data["path"] = str(e.onnx_path)
        data["origin"] = e.origin
        console.out.print_json(json.dumps(data))

    _guard(body)


@models_app.command("verify")
def verify_cmd(name: str = typer.Argument(None, help="one model; default: all")) -> None:
    """Check sha256 and the model's inputs/outputs against its card."""
    from .runtime.session import get_session

    def body() -> None:
        entries = [find_model(name)] if name else list_models()
        bad = 0
        for e in entries:
            try:
                get_session(verify(e), e.card, "cpu")
                console.out.print(f"ok      {e.card.name}  {e.onnx_path}", markup=False)
            except ModelError as exc:
                bad += 1
                console.out.print(f"FAILED  {e.card.name}: {exc.message}", markup=False)
        folders = ", ".join(f"{o}: {p}" for o, p in search_dirs())
        console.out.print(f"searched {folders}", markup=False)
        if bad:
            raise ModelError(f"{bad} model(s) failed verification")

    _guard(body)
