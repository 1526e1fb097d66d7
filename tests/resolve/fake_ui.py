"""A small stand-in for Fusion's UIManager/UIDispatcher (no stubs exist for them), enough to drive
the menu script's dialog: widgets by ID, `win.On.<ID>.<Event>` handlers, RunLoop/ExitLoop.
`Dispatcher.script(window)` plays the user: it is called from RunLoop."""

from __future__ import annotations

from typing import Any, Callable


class Widget:
    def __init__(self, kind: str, props: dict[str, Any] | None = None) -> None:
        props = props or {}
        self.kind, self.ID = kind, props.get("ID")
        self.Text, self.Value, self.CurrentIndex = props.get("Text", ""), props.get("Value", 0), 0
        self.items: list[str] = []

    def AddItems(self, items: list[str]) -> None:
        self.items.extend(items)


class Group:
    def __init__(self, kind: str, *args: Any) -> None:
        self.kind, self.children = kind, list(args[-1]) if args else []


class UIManager:
    def __getattr__(self, kind: str) -> Callable[..., Any]:
        if kind in ("HGroup", "VGroup"):
            return lambda *args: Group(kind, *args)
        return lambda props=None: Widget(kind, props)


class _Events:
    def __init__(self) -> None:
        self.__dict__["_subs"] = {}

    def __getattr__(self, name: str) -> Any:
        return self._subs.setdefault(name, type("Handlers", (), {})())


class Window:
    def __init__(self, props: dict[str, Any], layout: Group) -> None:
        self.props, self.layout, self.On, self.shown = props, layout, _Events(), False

    def GetItems(self) -> dict[str, Widget]:
        found: dict[str, Widget] = {}

        def walk(node: Any) -> None:
            if isinstance(node, Group):
                for child in node.children:
                    walk(child)
            elif node.ID:
                found[node.ID] = node

        walk(self.layout)
        return found

    def Show(self) -> None:
        self.shown = True

    def Hide(self) -> None:
        self.shown = False


class Dispatcher:
    def __init__(self, ui: UIManager, script: Callable[[Window], None]) -> None:
        self.ui, self.script, self.windows, self.running = ui, script, [], False

    def AddWindow(self, props: dict[str, Any], layout: Group) -> Window:
        self.windows.append(Window(props, layout))
        return self.windows[-1]

    def RunLoop(self) -> None:
        self.running = True
        self.script(self.windows[-1])

    def ExitLoop(self) -> None:
        self.running = False


class Fusion:
    def __init__(self) -> None:
        self.UIManager = UIManager()


class Bmd:
    """`bmd.UIDispatcher(ui)`; every dispatcher plays `script`; `windows` keeps all windows made."""

    def __init__(self, script: Callable[[Window], None]) -> None:
        self.script, self.dispatchers = script, []

    def UIDispatcher(self, ui: UIManager) -> Dispatcher:
        self.dispatchers.append(Dispatcher(ui, self.script))
        return self.dispatchers[-1]

    @property
    def windows(self) -> list[Window]:
        return [w for d in self.dispatchers for w in d.windows]
