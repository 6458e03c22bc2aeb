"""What every sub-command prints with: the consoles, a clean failure, JSON of records and dataclasses."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned ``typer.Exit``."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def print_json(value: Any) -> None:
    from rich.json import JSON

    console.print(JSON(json.dumps(value, default=_json_default)), soft_wrap=True)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_none=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)
