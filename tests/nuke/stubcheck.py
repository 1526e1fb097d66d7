"""Compare a fake module with the `types-nuke` stubs (parsed with `ast`, nothing imported).

`problems(fake)` lists every public function, class, method and constant of the fake that
the stubs do not have, or whose parameters the stubs would not accept: same names in the
same order, defaults where the stubs have them (and only there), *args/**kwargs only
where the stubs have them. A stub written as `(*args, **kwargs)` accepts any signature.
Overloads: matching one is enough. Private names (leading underscore) are the fake's own
test hooks and are skipped.
"""

from __future__ import annotations

import ast
import inspect
import site
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

OBJECT_DUNDERS_OK = {"__repr__", "__str__"}  # harmless protocol methods every object has
CLASS_ATTRS_SKIP = {"__module__", "__doc__", "__dict__", "__weakref__", "__qualname__", "__annotations__",
                    "__firstlineno__", "__static_attributes__", "__slots__"}


def stub_folder() -> Path:
    for base in [*site.getsitepackages(), site.getusersitepackages(), *sys.path]:
        folder = Path(base) / "nuke-stubs"
        if (folder / "__init__.pyi").is_file():
            return folder
    raise FileNotFoundError("types-nuke is not installed (no nuke-stubs folder in site-packages)")


@dataclass
class Sig:
    positional: list[tuple[str, bool]]  # (name, has default), self removed
    vararg: bool
    kwonly: dict[str, bool]
    kwarg: bool

    @property
    def accepts_anything(self) -> bool:
        return self.vararg and self.kwarg and not self.positional and not self.kwonly


@dataclass
class StubClass:
    name: str
    bases: list[str]
    methods: dict[str, list[Sig]] = field(default_factory=dict)


@dataclass
class Stubs:
    functions: dict[str, list[Sig]] = field(default_factory=dict)
    classes: dict[str, StubClass] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)

    def ancestors(self, name: str) -> list[str]:
        out, todo = [], [name]
        while todo:
            n = todo.pop(0)
            if n in out or n not in self.classes:
                continue
            out.append(n)
            todo.extend(self.classes[n].bases)
        return out

    def method(self, cls: str, name: str) -> list[Sig] | None:
        for c in self.ancestors(cls):
            if name in self.classes[c].methods:
                return self.classes[c].methods[name]
        return None


def _sig_from_ast(fn: ast.FunctionDef, method: bool) -> Sig:
    a = fn.args
    pos = [*a.posonlyargs, *a.args]
    defaults = [False] * (len(pos) - len(a.defaults)) + [True] * len(a.defaults)
    params = list(zip((p.arg for p in pos), defaults))
    if method and params:
        params = params[1:]
    kwonly = {p.arg: d is not None for p, d in zip(a.kwonlyargs, a.kw_defaults)}
    return Sig(params, a.vararg is not None, kwonly, a.kwarg is not None)


def _sig_from_object(fn: Any, method: bool) -> Sig:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if method and params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]
    P = inspect.Parameter
    return Sig(
        [(p.name, p.default is not P.empty) for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)],
        any(p.kind is P.VAR_POSITIONAL for p in params),
        {p.name: p.default is not P.empty for p in params if p.kind is P.KEYWORD_ONLY},
        any(p.kind is P.VAR_KEYWORD for p in params),
    )


def _star_modules(folder: Path) -> list[Path]:
    init = ast.parse((folder / "__init__.pyi").read_text())
    files = [folder / "__init__.pyi"]
    for node in init.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module and any(a.name == "*" for a in node.names):
            files.append(folder / (node.module + ".pyi"))
    # colorspaces.pyi re-exports _nuke_color the same way; follow one more level
    for f in list(files[1:]):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module and any(a.name == "*" for a in node.names):
                files.append(folder / (node.module + ".pyi"))
    return [f for f in files if f.is_file()]


def load_stubs(folder: Path | None = None) -> Stubs:
    folder = folder or stub_folder()
    stubs = Stubs()
    for path in _star_modules(folder):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.FunctionDef):
                stubs.functions.setdefault(node.name, []).append(_sig_from_ast(node, method=False))
            elif isinstance(node, ast.ClassDef):
                cls = StubClass(node.name, [b.id for b in node.bases if isinstance(b, ast.Name)])
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        cls.methods.setdefault(item.name, []).append(_sig_from_ast(item, method=True))
                stubs.classes[node.name] = cls
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                stubs.variables.add(node.target.id)
            elif isinstance(node, ast.Assign):
                stubs.variables.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module != "_nuke":
                stubs.variables.update(a.asname or a.name for a in node.names if a.name != "*")
    return stubs


def incompatibility(fake: Sig, stub: Sig) -> str | None:
    """Why a call that the stubs allow (or a fake parameter the stubs lack) would differ; None if fine."""
    if stub.accepts_anything:
        return None
    for i, (name, has_default) in enumerate(stub.positional):
        if i >= len(fake.positional):
            if not fake.vararg:
                return f"missing parameter '{name}'"
            continue
        fname, fdefault = fake.positional[i]
        if fname != name:
            return f"parameter {i + 1} is '{fname}', the stubs call it '{name}'"
        if fdefault != has_default:
            return f"'{name}' {'needs a default' if has_default else 'has a default the stubs do not give'}"
    for fname, fdefault in fake.positional[len(stub.positional):]:
        if stub.vararg:
            continue
        if not stub.kwarg:
            return f"parameter '{fname}' is not in the stubs"
        if not fdefault:
            return f"required parameter '{fname}' is not in the stubs"
    for name, has_default in stub.kwonly.items():
        if name not in fake.kwonly and not fake.kwarg:
            return f"missing keyword parameter '{name}'"
    for name in fake.kwonly:
        if name not in stub.kwonly and not stub.kwarg:
            return f"keyword parameter '{name}' is not in the stubs"
    if fake.vararg and not stub.vararg:
        return "*args is not in the stubs"
    if fake.kwarg and not stub.kwarg:
        return "**kwargs is not in the stubs"
    return None


def _best(fake: Sig, overloads: list[Sig]) -> str | None:
    reasons = [incompatibility(fake, s) for s in overloads]
    return None if any(r is None for r in reasons) else reasons[0]


def _public(module: types.ModuleType) -> Iterator[tuple[str, Any]]:
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        yield name, value


def problems(fake: types.ModuleType, stubs: Stubs | None = None) -> list[str]:
    stubs = stubs or load_stubs()
    found: list[str] = []
    for name, value in _public(fake):
        if inspect.isclass(value):
            found.extend(_class_problems(value, stubs))
        elif inspect.isfunction(value):
            if name not in stubs.functions:
                found.append(f"nuke.{name}() is not in the stubs")
            elif (why := _best(_sig_from_object(value, False), stubs.functions[name])) is not None:
                found.append(f"nuke.{name}(): {why}")
        elif name not in stubs.variables and name not in stubs.functions and name not in stubs.classes:
            found.append(f"nuke.{name} is not in the stubs")
    return found


def _class_problems(cls: type, stubs: Stubs) -> list[str]:
    name = cls.__name__
    if name not in stubs.classes:
        return [f"class nuke.{name} is not in the stubs"]
    out = []
    real_ancestors = set(stubs.ancestors(name))
    fake_ancestors = {c.__name__ for c in cls.__mro__[1:] if c.__module__ == cls.__module__ and not c.__name__.startswith("_")}
    if not fake_ancestors <= real_ancestors:
        out.append(f"nuke.{name} derives from {sorted(fake_ancestors - real_ancestors)}, the stubs do not")
    if cls.__bases__ and cls.__bases__[0].__module__ == cls.__module__ and cls.__bases__[0].__name__ not in real_ancestors:
        out.append(f"nuke.{name}'s base {cls.__bases__[0].__name__} is not among its stub bases")
    for attr, value in vars(cls).items():
        if attr in CLASS_ATTRS_SKIP or (attr.startswith("_") and not attr.startswith("__")):
            continue
        overloads = stubs.method(name, attr)
        if overloads is None:
            if attr not in OBJECT_DUNDERS_OK:
                out.append(f"nuke.{name}.{attr} is not in the stubs")
            continue
        fn = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if not callable(fn):
            continue
        if (why := _best(_sig_from_object(fn, True), overloads)) is not None:
            out.append(f"nuke.{name}.{attr}(): {why}")
    return out
