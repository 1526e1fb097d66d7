"""How a node is declared: once, as data.

A `NodeSpec` lists typed parameters with defaults, ranges and help, and how many
neighbouring frames the node needs. The CLI options, job validation, `reelfix nodes`,
the Nuke knobs and the docs are all generated from this one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from ..errors import JobError
from ..frames.frame import Frame

PARAM_TYPES = {int: "int", float: "float", bool: "bool", str: "str"}


@dataclass(frozen=True)
class Param:
    """One typed node parameter."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    @property
    def type_name(self) -> str:
        return PARAM_TYPES[self.type]

    def describe(self) -> dict[str, Any]:
        """Plain data for `reelfix nodes --json`, docs and host adapters."""
        out: dict[str, Any] = {"name": self.name, "type": self.type_name, "default": self.default, "help": self.help}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def coerce(self, value: Any, where: str) -> Any:
        """Check and convert one value; `where` names the node and file for messages."""
        value = self._convert(value, where)
        if self.choices is not None and value not in self.choices:
            raise JobError(f"{where}: '{self.name}' must be one of {list(self.choices)}, got {value!r}")
        if self.min is not None and value < self.min:
            raise JobError(f"{where}: '{self.name}' must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise JobError(f"{where}: '{self.name}' must be <= {self.max}, got {value!r}")
        return value

    def _convert(self, value: Any, where: str) -> Any:
        bad = JobError(f"{where}: '{self.name}' must be a {self.type_name}, got {value!r}", hint=self.help)
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return value.lower() in ("true", "yes", "on", "1")
            raise bad
        if self.type is int:
            if isinstance(value, bool):
                raise bad
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    raise bad from None
            raise bad
        if self.type is float:
            if isinstance(value, bool):
                raise bad
            if isinstance(value, (int, float)):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    raise bad from None
            raise bad
        if isinstance(value, str):
            return value
        raise bad


class NodeRunner(Protocol):
    """What a node's factory returns: the per-job instance (models loaded once)."""

    def process(self, window: "Window") -> Frame: ...

    def provenance(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Analysis:
    """Statistics of frames far beyond a node's window, for nodes that declare a `span`.

    The shot is cut into segments of 2 x span frames at fixed frame numbers (multiples of
    span), overlapping by half, and limited to the centre's shot; the centre lies in two
    of them and takes each with a weight (`segments`: (weight, frame numbers)), so its
    result is a smooth blend that depends only on the frames around it, never on where a
    farm chunk starts. `stats` holds the node's `measure` of every frame in them, made on
    the job's input frames."""

    segments: tuple[tuple[float, tuple[int, ...]], ...]
    stats: Mapping[int, Any]


@dataclass
class Window:
    """The frames a node sees for one output frame: the centre and its available neighbours.

    `frames` maps frame number -> Frame for centre +- radius, limited to the frames that
    exist in the input range (at the ends of a range a node gets fewer neighbours).
    `analysis`: shot-long statistics, for nodes that declare a span.
    A runner with `reads_held = True` first in a job gets the frames as read: float16 from a
    half-float file (half the bytes; cast to float32, exact, the rows it works on); every other
    node gets float32 frames.
    """

    number: int
    frames: Mapping[int, Frame]
    analysis: Analysis | None = None

    @property
    def centre(self) -> Frame:
        return self.frames[self.number]


@dataclass(frozen=True)
class NodeContext:
    """Job-wide settings a node may need when it is built."""

    device: str = "auto"
    max_memory: int = 2 * 1024**3
    warn: Callable[[str], None] = field(default=lambda message: None)


@dataclass(frozen=True)
class NodeSpec:
    """The single declaration of a node."""

    name: str
    label: str
    help: str
    params: tuple[Param, ...]
    factory: Callable[[dict[str, Any], NodeContext], NodeRunner]
    radius: Callable[[dict[str, Any]], int] = field(default=lambda params: 0)
    category: str = "Restore"
    # frames each side whose statistics the node reads (its runner's `measure(frame)`, made
    # on the job's input frames; see `Analysis`); 0: none
    span: Callable[[dict[str, Any]], int] = field(default=lambda params: 0)
    # True when the node leaves the picture's brightness as it is (a repair, a resize, grain
    # with zero mean): a node with a span may come after it and still measure the input
    keeps_brightness: bool = False

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def validate(self, params: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
        """Defaults filled in, every value checked; unknown keys name the key and list the known ones."""
        params = dict(params or {})
        known = {p.name for p in self.params}
        for key in params:
            if key not in known:
                raise JobError(
                    f"{where}: unknown parameter '{key}' for node '{self.name}'",
                    hint=f"known parameters: {', '.join(sorted(known)) or '(none)'}; see `reelfix nodes`",
                )
        return {p.name: p.coerce(params[p.name], where) if p.name in params else p.default for p in self.params}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "help": self.help,
            "category": self.category,
            "params": [p.describe() for p in self.params],
        }
