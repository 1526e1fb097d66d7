"""A fake `nuke` module that follows the real API and really renders.

Every public function, class, method and constant here exists in the `types-nuke` 13.2
stubs with compatible parameters (tests/nuke/test_fake_follows_stubs.py parses the stubs
and checks). Names starting with an underscore are test hooks that real Nuke does not have:

    _reset()                     fresh script: root, menus, messages, switches
    _SWITCHES                    conventions we are not sure of, as switches (see _Switches)
    _image_at(node, frame)       the pixels a node outputs inside its format (numpy, via OpenImageIO)
    _batch()                     a batch session (`nuke -x` / `nuke -t`, farm): GUI and env['gui'] False
    _state.messages / .tasks / .executed / .panels / .warnings   what the plugin did

Real behaviour modelled (../shared/docs/hosts.md, "Real behaviour ... Nuke"):
- bbox is not format: a Read gives the file's data window placed in its display window (the
  format); a Write stores the bbox as the data window and the format as the display window.
- Knob expressions `[python -execlocal {...; ret = ...}]` are evaluated whenever the knob is
  (GUI and batch); an expression that raises while a Write renders fails that render with its text.
- Read before/after default to "hold" (the end frame repeats outside first..last).
- A Write renders at the proxy scale while the root's `proxy` knob is on; `execute` renders
  every view of the script unless given `views=[...]` (files named with %V per view).
- A disabled Write cannot be executed; `nuke.execute` runs on the main thread only.

`execute(write, first, last)` writes the Write's frames from its upstream Read, walking
Groups (Input/Output), Switches and pass-through nodes, with OpenImageIO (this fake only;
the plugin itself stays stdlib).
"""

import builtins as _builtins
import os as _os
import re as _re
import sys as _sys
import threading as _threading
import time as _time

GUI = True
INVISIBLE = 1024
STARTLINE = 4096
ENDLINE = 8192
DISABLED = 128
NO_ANIMATION = 256
NUKE_VERSION_MAJOR = 13
NUKE_VERSION_MINOR = 2
NUKE_VERSION_STRING = "13.2v8"

_COLORSPACES = ["default", "linear", "sRGB", "rec709", "Cineon", "scene_linear", "ACES - ACEScg", "ACES - ACES2065-1",
                "ACEScg", "lin_srgb", "Linear Rec.709 (sRGB)", "bogus_space"]
_OCIO_CONFIGS = ["nuke-default", "aces_1.2", "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "custom"]
_OUTSIDE = ["hold", "loop", "bounce", "black", "error"]  # Read before/after; Nuke's default is hold
_EXR_COMPRESSIONS = ["none", "Zip (1 scanline)", "Zip (16 scanlines)", "PIZ Wavelet (32 scanlines)", "RLE", "B44", "DWAA", "DWAB"]


class _Switches(object):
    """Conventions of real Nuke that these tests cannot confirm; each is a switch."""

    def __init__(self):
        # How nuke.execute reports a cancel: "RuntimeError" (RuntimeError('Cancelled')) or "CancelledError".
        self.cancel_raises = "RuntimeError"
        # Make the next nuke.execute behave as if the user pressed Cancel.
        self.cancel_execute = False
        # A Write fails on a missing folder unless its create_directories knob is on.
        self.write_needs_existing_dir = True
        # EXR-only Write knobs (datatype, compression, metadata) exist only once file_type is exr.
        self.exr_knobs_need_file_type = True
        # Writes add header entries that change on every render (capture date, node hash).
        self.write_volatile_metadata = True
        # createNode connects input 0 to the selected node when the new node has an input.
        self.create_node_connects = True
        # ProgressTask.isCancelled() returns this(task) when set (a callable), else False.
        self.cancel_when = None
        # Setting a knob from Python fires the knobChanged callbacks (as a user edit in the panel does).
        self.knob_changed_on_set_value = True
        # An expression error upstream of a rendering Write fails the render (Nuke marks the node in error).
        self.expression_error_fails_render = True


_SWITCHES = _Switches()


class _State(object):
    def __init__(self):
        self.root = None
        self.stack = []
        self.this = []
        self.menus = {}
        self.messages = []
        self.warnings = []
        self.tasks = []
        self.executed = []
        self.panels = []
        self.plugin_paths = []
        self.reloads = []
        self.knob_changed = []
        self.script_load = []
        self.main_calls = []
        self.views = ["main"]


_state = _State()


class CancelledError(Exception):
    pass


class GlobalsEnvironment(object):
    """nuke.env: read-only mapping; 'gui' is False in `nuke -x`/`nuke -t` and on the farm."""

    def __init__(self, *args, **kwargs):
        self._data = dict(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self._data.get(*args, **kwargs)

    def keys(self, *args, **kwargs):
        return list(self._data.keys())

    def items(self, *args, **kwargs):
        return list(self._data.items())

    def values(self, *args, **kwargs):
        return list(self._data.values())

    def __contains__(self, other):
        return other in self._data

    def __getitem__(self, index):
        return self._data[index]

    def __len__(self):
        return len(self._data)


env = GlobalsEnvironment(gui=True, NukeVersionMajor=NUKE_VERSION_MAJOR, NukeVersionMinor=NUKE_VERSION_MINOR)


# ---------------------------------------------------------------- knobs


class Knob(object):
    def __init__(self, *args, **kwargs):
        self._name = str(args[0]) if args else str(kwargs.get("name", ""))
        self._label = str(args[1]) if len(args) > 1 and args[1] is not None else self._name
        self._value = None
        self._tooltip = ""
        self._flags = 0
        self._node = None
        self._enabled = True
        self._expression = None

    def Class(self):
        return type(self).__name__

    def name(self):
        return self._name

    def label(self):
        return self._label

    def setLabel(self, label):
        self._label = label

    def tooltip(self):
        return self._tooltip

    def setTooltip(self, tooltip):
        self._tooltip = str(tooltip)

    def setFlag(self, flag):
        self._flags |= flag

    def clearFlag(self, flag):
        self._flags &= ~flag

    def getFlag(self, flag):
        return bool(self._flags & flag)

    def enabled(self):
        return self._enabled

    def setEnabled(self, enabled):
        self._enabled = bool(enabled)

    def visible(self):
        return not self._flags & INVISIBLE

    def setVisible(self, visible):
        if visible:
            self.clearFlag(INVISIBLE)
        else:
            self.setFlag(INVISIBLE)

    def node(self):
        return self._node

    def value(self, index=0):
        return self._value

    def hasExpression(self, index=0):
        return self._expression is not None

    def setExpression(self, expression, index=0, view=None):
        self._expression = str(expression)
        return True

    def toScript(self, quote=False, context=None):
        if self._expression is not None:
            return "{" + self._expression + "}"
        return "" if self._value is None else str(self._value)

    def getValue(self, channel=0):
        return self.value()

    def setValue(self, val, chan=0):
        self._value = self._convert(val)
        if self._node is not None:
            self._node._changed(self)
            _knob_changed(self._node, self)
        return True

    def _convert(self, val):
        return val


class Array_Knob(Knob):
    def __init__(self, *args, **kwargs):
        Knob.__init__(self, *args, **kwargs)
        self._value = 0.0
        self._range = None

    def setRange(self, min, max):
        self._range = (min, max)

    def min(self):
        return self._range[0] if self._range else 0.0

    def max(self):
        return self._range[1] if self._range else 1.0

    def _convert(self, val):
        return float(val)

    def hasExpression(self, *args, **kwargs):
        return self._expression is not None

    def setExpression(self, expression, channel=-1, view=None):
        self._expression = str(expression)
        return True

    def value(self, *args, **kwargs):
        """An expression is evaluated (a failing one gives 0 here, as a panel shows; a render fails)."""
        if self._expression is None:
            return self._value
        try:
            return _evaluate(self)
        except Exception:  # noqa: BLE001 - Nuke shows 0 and an error mark
            return 0.0

    def toScript(self, *args, **kwargs):
        return Knob.toScript(self)


class Int_Knob(Array_Knob):
    def __init__(self, name, label=None):
        Array_Knob.__init__(self, name, label)
        self._value = 0

    def value(self):
        return self._value

    def setValue(self, val):
        return Knob.setValue(self, val)

    def _convert(self, val):
        if isinstance(val, float) and not val.is_integer():
            raise TypeError("an integer is required")
        return int(val)


class Double_Knob(Array_Knob):
    def __init__(self, name, label=None):
        Array_Knob.__init__(self, name, label)


class Boolean_Knob(Array_Knob):
    def __init__(self, name, label=None, value=False):
        Array_Knob.__init__(self, name, label)
        self._value = bool(value)

    def value(self):
        return self._value

    def setValue(self, b):
        return Knob.setValue(self, b)

    def _convert(self, val):
        return bool(val)


class Disable_Knob(Boolean_Knob):
    pass


class Unsigned_Knob(Array_Knob):
    pass


class Enumeration_Knob(Unsigned_Knob):
    def __init__(self, name, label, values):
        Unsigned_Knob.__init__(self, name, label)
        self._values = [str(v) for v in values]
        self._value = self._values[0] if self._values else ""

    def value(self):
        return self._value

    def values(self):
        return list(self._values)

    def numValues(self):
        return len(self._values)

    def enumName(self, n):
        return self._values[n]

    def setValues(self, items):
        self._values = [str(v) for v in items]

    def setValue(self, val):
        return Knob.setValue(self, val)

    def _convert(self, val):
        if isinstance(val, bool):
            raise ValueError("invalid value {!r} for {}".format(val, self._name))
        if isinstance(val, int):
            return self._values[val]
        if str(val) not in self._values:
            raise ValueError("{}: {!r} is not one of {}".format(self._name, val, self._values))
        return str(val)


class String_Knob(Knob):
    def __init__(self, name, label=None, value=""):
        Knob.__init__(self, name, label)
        self._value = str(value or "")

    def value(self, oc=None):
        return self._value

    def getText(self, oc=None):
        return self._value

    def setValue(self, val, view=None):
        Knob.setValue(self, val)

    def _convert(self, val):
        return "" if val is None else str(val)


class EvalString_Knob(String_Knob):
    def evaluate(self):
        return self._value  # no TCL here


class File_Knob(EvalString_Knob):
    def getEvaluatedValue(self):
        return self._value


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class Script_Knob(String_Knob):
    def __init__(self, name, label=None, command=""):
        String_Knob.__init__(self, name, label, command)
        self._action = None

    def command(self):
        return self._value

    def setCommand(self, cmd):
        self._value = str(cmd)

    def setValue(self, cmd):
        self._value = str(cmd)

    def value(self):
        return self._value

    def execute(self):
        if self._action is not None:
            return self._action()
        _state.this.append((self._node, self))
        try:
            exec(compile(self._value, "<{} {}>".format(self._node.fullName() if self._node else "", self._name), "exec"),
                 {"nuke": _sys.modules[__name__], "__builtins__": _builtins})
        finally:
            _state.this.pop()


class PyScript_Knob(Script_Knob):
    pass


class Tab_Knob(Knob):
    def __init__(self, name, label=None):
        Knob.__init__(self, name, label)


class Text_Knob(Knob):
    def __init__(self, name, label=None, text=""):
        Knob.__init__(self, name, label)
        self._value = str(text or "")

    def value(self):
        return self._value

    def setValue(self, text):
        return Knob.setValue(self, str(text))


class Channel_Knob(Knob):
    def __init__(self, name, label=None):
        Knob.__init__(self, name, label)
        self._value = "rgb"

    def value(self):
        return self._value

    def setValue(self, name):
        if name not in ("rgb", "rgba", "alpha", "all"):
            raise ValueError("unknown channel set " + repr(name))
        Knob.setValue(self, name)


class ChannelMask_Knob(Channel_Knob):
    pass


# ---------------------------------------------------------------- nodes

_NAME = _re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_INPUTS = {"Read": 0, "Input": 0, "Constant": 0, "Write": 1, "Output": 1, "Switch": 10, "Root": 0}


def _builtin_knobs(cls):
    knobs = [String_Knob("name"), Multiline_Eval_String_Knob("label"), Disable_Knob("disable")]
    if cls == "Read":
        knobs += [File_Knob("file"), Int_Knob("first"), Int_Knob("last"), Int_Knob("origfirst"), Int_Knob("origlast"),
                  Boolean_Knob("raw"), Enumeration_Knob("colorspace", "colorspace", _COLORSPACES),
                  Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"]),
                  Enumeration_Knob("before", "before", _OUTSIDE), Enumeration_Knob("after", "after", _OUTSIDE),
                  Script_Knob("reload", "Reload")]
    elif cls == "Write":
        knobs += [File_Knob("file"), Enumeration_Knob("file_type", "file type", ["", "exr", "dpx", "tiff", "png", "jpeg", "mov"]),
                  ChannelMask_Knob("channels"), Boolean_Knob("raw"), Enumeration_Knob("colorspace", "colorspace", _COLORSPACES),
                  Boolean_Knob("create_directories"), Boolean_Knob("use_limit"), Int_Knob("first"), Int_Knob("last")]
        if not _SWITCHES.exr_knobs_need_file_type:
            knobs += _exr_knobs()
    elif cls == "Input":
        knobs += [Int_Knob("number")]
    elif cls == "Switch":
        knobs += [Double_Knob("which")]
    elif cls == "Root":
        knobs += [File_Knob("name"), Int_Knob("first_frame"), Int_Knob("last_frame"), Double_Knob("fps"),
                  Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"]),
                  Enumeration_Knob("OCIO_config", "OCIO config", _OCIO_CONFIGS),
                  Enumeration_Knob("workingSpaceLUT", "working space", _COLORSPACES),
                  File_Knob("customOCIOConfigPath"), Boolean_Knob("proxy"), Double_Knob("proxy_scale")]
        knobs = knobs[3:]
    return knobs


def _exr_knobs():
    return [Enumeration_Knob("datatype", "datatype", ["16 bit half", "32 bit float"]),
            Enumeration_Knob("compression", "compression", _EXR_COMPRESSIONS),
            Enumeration_Knob("metadata", "metadata", ["no metadata", "default metadata", "all metadata"])]


class Node(object):
    def __init__(self, *args, **kwargs):
        self._class = str(args[0]) if args else "NoOp"
        self._knobs = {}
        self._inputs = []
        self._parent = None
        self._selected = False
        self._deleted = False
        for k in _builtin_knobs(self._class):
            self._attach(k)
        if self._class == "Read":
            self._knobs["reload"]._action = lambda: _state.reloads.append(self.fullName())
            self._knobs["first"]._value = self._knobs["last"]._value = 1
        if self._class == "Root":
            self._knobs["first_frame"]._value, self._knobs["last_frame"]._value = 1, 100
            self._knobs["fps"]._value = 24.0
            self._knobs["workingSpaceLUT"]._value = "linear"
            self._knobs["proxy_scale"]._value = 0.5

    def _attach(self, knob):
        knob._node = self
        self._knobs[knob.name()] = knob

    def _changed(self, knob):
        if self._class == "Write" and knob.name() == "file_type" and knob.value() == "exr" and "datatype" not in self._knobs:
            for k in _exr_knobs():
                self._attach(k)
        if knob.name() == "name" and self._class != "Root":
            self.setName(knob._value)

    def Class(self):
        return self._class

    def name(self):
        return self._knobs["name"]._value if "name" in self._knobs else "root"

    def fullName(self):
        names, node = [], self
        while node is not None and node._class != "Root":
            names.append(node.name())
            node = node._parent
        return ".".join(reversed(names))

    def setName(self, name, uncollide=False, updateExpressions=False):
        if not _NAME.match(name):
            raise ValueError("invalid node name " + repr(name))
        siblings = [n for n in (self._parent._children if self._parent else []) if n is not self]
        taken = {n.name() for n in siblings}
        if name in taken:
            if not uncollide:
                raise ValueError("a node called {} already exists".format(name))
            base, n = _re.sub(r"\d+$", "", name), 1
            while "{}{}".format(base, n) in taken:
                n += 1
            name = "{}{}".format(base, n)
        self._knobs["name"]._value = name

    def knob(self, p, follow_link=False):
        if isinstance(p, int):
            return list(self._knobs.values())[p]
        return self._knobs.get(p)

    def knobs(self):
        return dict(self._knobs)

    def allKnobs(self):
        return list(self._knobs.values())

    def numKnobs(self):
        return len(self._knobs)

    def addKnob(self, knob):
        if knob.name() in self._knobs:
            raise ValueError("{} already has a knob called {}".format(self.name(), knob.name()))
        self._attach(knob)

    def removeKnob(self, knob):
        del self._knobs[knob.name()]

    def __getitem__(self, name):
        if name not in self._knobs:
            raise NameError("knob {} does not exist".format(name))
        return self._knobs[name]

    def maxInputs(self):
        return _MAX_INPUTS.get(self._class, 1)

    def input(self, index):
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self):
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return len(self._inputs)

    def setInput(self, i, node):
        if i >= self.maxInputs():
            return False
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        return True

    def connectInput(self, i, node):
        return self.setInput(i, node)

    def parent(self):
        return self._parent

    def isSelected(self):
        return self._selected

    def setSelected(self, selected):
        self._selected = bool(selected)

    def showControlPanel(self, forceFloat=False):
        _state.panels.append(self.fullName())

    def hideControlPanel(self):
        pass

    def firstFrame(self):
        return _frame_range(self)[0]

    def lastFrame(self):
        return _frame_range(self)[1]

    def channels(self):
        names = _channel_names(self)
        mapping = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha"}
        return [mapping.get(c, "other." + c) for c in names]


class Group(Node):
    def __init__(self, *args, **kwargs):
        Node.__init__(self, *args, **kwargs)
        self._children = []

    def begin(self):
        _state.stack.append(self)
        return self

    def end(self):
        if len(_state.stack) > 1 and _state.stack[-1] is self:
            _state.stack.pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, type, value, traceback):
        self.end()
        return False

    def node(self, s):
        for n in self._children:
            if n.name() == s:
                return n
        return None

    def nodes(self):
        return list(self._children)

    def numNodes(self):
        return len(self._children)

    def maxInputs(self):
        return len([n for n in self._children if n.Class() == "Input"])


class Root(Group):
    def __init__(self, *args, **kwargs):
        Group.__init__(self, "Root")

    def firstFrame(self):
        return int(self._knobs["first_frame"].value())

    def lastFrame(self):
        return int(self._knobs["last_frame"].value())

    def fps(self):
        return self._knobs["fps"].value()


class NodeConstructor(object):
    def __init__(self, *args, **kwargs):
        self._cls = args[0]

    def __call__(self, *args, **kwargs):
        return _create(self._cls, kwargs)


class Nodes(object):
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, item):
        if item.startswith("_"):
            raise AttributeError(item)
        return NodeConstructor(item)


nodes = Nodes()


def _create(cls, knob_values):
    parent = _state.stack[-1]
    node = Group(cls) if cls == "Group" else Node(cls)
    node._parent = parent
    taken = {n.name() for n in parent._children}
    n = 1
    while "{}{}".format(cls, n) in taken:
        n += 1
    node._knobs["name"]._value = "{}{}".format(cls, n)
    parent._children.append(node)
    if cls == "Input":
        node._knobs["number"]._value = len([c for c in parent._children if c.Class() == "Input"]) - 1
    for key, value in knob_values.items():
        if key == "inputs":
            for i, up in enumerate(value):
                node.setInput(i, up)
            continue
        node[key].setValue(value)
    return node


# ---------------------------------------------------------------- menus


class MenuItem(object):
    def name(self):
        return self._name

    def icon(self):
        return self._icon

    def script(self):
        return self._command if isinstance(self._command, str) else ""

    def setIcon(self, icon):
        self._icon = icon

    def setScript(self, script):
        self._command = script

    def shortcut(self):
        return self._shortcut

    def invoke(self):
        if callable(self._command):
            self._command()
        elif self._command:
            exec(compile(self._command, "<menu {}>".format(self._name), "exec"), {"nuke": _sys.modules[__name__], "__builtins__": _builtins})


class Menu(MenuItem):
    def addCommand(self, name, command=None, shortcut="", icon="", tooltip="", index=-1, readonly=False):
        head, _, rest = name.partition("/")
        if rest:
            return self.addMenu(head).addCommand(rest, command, shortcut, icon, tooltip, index, readonly)
        item = _new(MenuItem, _name=name, _command=command, _shortcut=shortcut, _icon=icon, _tooltip=tooltip)
        return self._put(item, index)

    def addMenu(self, name, icon=None, tooltip=None, index=-1):
        existing = self.findItem(name)
        if isinstance(existing, Menu):
            return existing
        return self._put(_new(Menu, _name=name, _command=None, _shortcut="", _icon=icon or "", _tooltip=tooltip or "", _items=[]), index)

    def addSeparator(self, *args, **kwargs):
        self._items.append(_new(MenuItem, _name="", _command=None, _shortcut="", _icon="", _tooltip="", _separator=True))

    def clearMenu(self):
        self._items = []

    def findItem(self, name):
        head, _, rest = name.partition("/")
        for item in self._items:
            if item._name == head and head:
                return item.findItem(rest) if rest and isinstance(item, Menu) else (None if rest else item)
        return None

    def menu(self, name):
        found = self.findItem(name)
        return found if isinstance(found, Menu) else None

    def items(self):
        return [i for i in self._items if i._name]

    def removeItem(self, name):
        self._items = [i for i in self._items if i._name != name]

    def _put(self, item, index):
        self._items = [i for i in self._items if i._name != item._name or not item._name]
        if index is None or index < 0:
            self._items.append(item)
        else:
            self._items.insert(index, item)
        return item


def _new(cls, **attrs):
    obj = cls.__new__(cls)
    obj.__dict__.update(attrs)
    return obj


def menu(name):
    if name not in _state.menus:
        _state.menus[name] = _new(Menu, _name=name, _command=None, _shortcut="", _icon="", _tooltip="", _items=[])
    return _state.menus[name]


# ---------------------------------------------------------------- progress, messages


class ProgressTask(object):
    def __init__(self, title):
        self._title = title
        self._messages = []
        self._progress = []
        self._cancel_checks = 0
        _state.tasks.append(self)

    def setMessage(self, message):
        self._messages.append(str(message))

    def setProgress(self, progress):
        self._progress.append(int(progress))

    def isCancelled(self):
        self._cancel_checks += 1
        return bool(_SWITCHES.cancel_when(self)) if _SWITCHES.cancel_when else False


def message(prompt):
    _state.messages.append(str(prompt))
    if not GUI:
        print(prompt)


def warning(message):
    _state.warnings.append(str(message))


def error(message):
    _state.warnings.append("ERROR " + str(message))


def tprint(*args, sep=" ", end="\n", file=None):
    print(*args, sep=sep, end=end, file=file or _sys.stdout)


# ---------------------------------------------------------------- script


def root():
    return _state.root


def thisNode():
    return _state.this[-1][0] if _state.this else _state.root


def thisKnob():
    return _state.this[-1][1] if _state.this else None


def thisGroup():
    return _state.stack[-1]


def toNode(s):
    node = _state.stack[-1] if not s.startswith("root.") else _state.root
    for part in s.replace("root.", "", 1).split("."):
        if not isinstance(node, Group):
            return None
        node = node.node(part)
        if node is None:
            return None
    return node


def allNodes(filter=None, group=None, recurseGroups=False):
    group = group or _state.stack[-1]
    found = []
    for n in group.nodes():
        if filter is None or n.Class() == filter:
            found.append(n)
        if recurseGroups and isinstance(n, Group):
            found.extend(allNodes(filter, n, True))
    return found


def selectedNode():
    chosen = [n for n in _state.stack[-1].nodes() if n.isSelected()]
    if not chosen:
        raise ValueError("no node selected")
    return chosen[-1]


def createNode(typ, knobs="", inpanel=True):
    try:
        selected = selectedNode()
    except ValueError:
        selected = None
    node = _create(typ, {})
    words = knobs.split()
    for key, value in zip(words[::2], words[1::2]):
        node[key].setValue(value)
    if selected is not None and _SWITCHES.create_node_connects and node.maxInputs() > 0:
        node.setInput(0, selected)
    for n in _state.stack[-1].nodes():
        n.setSelected(n is node)
    if inpanel and GUI:
        node.showControlPanel()
    return node


def delete(n):
    if n is not None and n._parent is not None:
        n._parent._children.remove(n)
        n._deleted = True


def pluginAddPath(args, addToSysPath=True):
    """Adds a plugin folder and runs its init.py, like Nuke does."""
    for path in [args] if isinstance(args, str) else list(args):
        _state.plugin_paths.append(path)
        if addToSysPath and path not in _sys.path:
            _sys.path.insert(0, path)
        init = _os.path.join(path, "init.py")
        if _os.path.isfile(init):
            with open(init, encoding="utf-8") as fh:
                exec(compile(fh.read(), init, "exec"), {"nuke": _sys.modules[__name__], "__builtins__": _builtins})


# ---------------------------------------------------------------- callbacks, threads, views


def addKnobChanged(call, args=(), kwargs={}, nodeClass="*", node=None):
    _state.knob_changed.append((call, tuple(args), dict(kwargs), nodeClass, node))


def removeKnobChanged(call, args=(), kwargs={}, nodeClass="*", node=None):
    _state.knob_changed = [c for c in _state.knob_changed if c[0] is not call or c[3] != nodeClass]


def _knob_changed(node, knob):
    if not _SWITCHES.knob_changed_on_set_value:
        return
    for call, args, kwargs, node_class, only in list(_state.knob_changed):
        if (node_class in ("*", node.Class())) and (only is None or only is node):
            _state.this.append((node, knob))
            try:
                call(*args, **kwargs)
            finally:
                _state.this.pop()


def addOnScriptLoad(call, args=(), kwargs={}, nodeClass="Root"):
    _state.script_load.append((call, tuple(args), dict(kwargs)))


def _load_script():
    """Test hook: what nuke.scriptOpen does after reading a script: the onScriptLoad callbacks."""
    for call, args, kwargs in list(_state.script_load):
        call(*args, **kwargs)


def executeInMainThread(call, args=(), kwargs={}):
    """Queued for the main thread's event loop (the test runs it with _run_main_calls)."""
    if not isinstance(args, tuple):
        args = (args,)
    _state.main_calls.append((call, args, dict(kwargs)))


def executeInMainThreadWithResult(call, args=(), kwargs={}):
    if _threading.current_thread() is _threading.main_thread():
        return call(*(args if isinstance(args, tuple) else (args,)), **kwargs)
    done = _threading.Event()
    box = []
    executeInMainThread(lambda: (box.append(call(*(args if isinstance(args, tuple) else (args,)), **kwargs)), done.set()))
    done.wait()
    return box[0]


def _run_main_calls():
    """Test hook: the main thread's event loop runs what executeInMainThread queued."""
    ran = 0
    while _state.main_calls:
        call, args, kwargs = _state.main_calls.pop(0)
        call(*args, **kwargs)
        ran += 1
    return ran


def views():
    return list(_state.views)


def _batch():
    """Test hook: a batch session (`nuke -x`, `nuke -t`, a farm render)."""
    global GUI
    GUI = False
    env._data["gui"] = False


# ---------------------------------------------------------------- rendering (OpenImageIO, fake only)


def _frame_file(pattern, number, view="main"):
    pattern = pattern.replace("%V", view).replace("%v", view[:1])
    m = _re.search(r"%0?(\d*)d", pattern)
    if m:
        return pattern[: m.start()] + "{:0{}d}".format(number, int(m.group(1) or 1)) + pattern[m.end():]
    m = _re.search(r"#+", pattern)
    if m:
        return pattern[: m.start()] + "{:0{}d}".format(number, len(m.group(0))) + pattern[m.end():]
    return pattern


_PYTHON_EXPRESSION = _re.compile(r"^\[python -execlocal \{(.*)\}\]$", _re.S)


def _evaluate(knob):
    """A knob's expression, as Nuke evaluates it (nuke.thisNode() = the knob's node); raises on error."""
    m = _PYTHON_EXPRESSION.match(knob._expression.strip())
    if not m:
        return float(knob._expression)  # plain numbers only; TCL is not modelled
    scope = {"nuke": _sys.modules[__name__], "__builtins__": _builtins}
    _state.this.append((knob._node, knob))
    try:
        exec(compile(m.group(1), "<expression {}.{}>".format(knob._node.fullName(), knob.name()), "exec"), scope)
    finally:
        _state.this.pop()
    return float(scope.get("ret", 0))


def _which(switch):
    knob = switch["which"]
    if knob._expression is None:
        return int(knob._value)
    try:
        return int(_evaluate(knob))
    except Exception as exc:  # noqa: BLE001 - the node is in error: the render stops with its text
        if not _SWITCHES.expression_error_fails_render:
            return 0
        raise RuntimeError("{}.which: {}".format(switch.fullName(), exc)) from exc


def _source(node, frame):
    """The Read (and frame) a node's image comes from, walking Groups, Switches and pass-throughs."""
    seen = 0
    while node is not None:
        seen += 1
        if seen > 1000:
            raise RuntimeError("cycle in the node graph")
        cls = node.Class()
        if node.knob("disable") is not None and node["disable"].value() and cls not in ("Read", "Input", "Output"):
            node = node.input(0)
            continue
        if cls == "Read":
            return node
        if cls == "Input":
            group = node._parent
            node = group.input(int(node["number"].value())) if group is not None else None
        elif isinstance(node, Group) and not isinstance(node, Root):
            outputs = [c for c in node.nodes() if c.Class() == "Output"]
            node = outputs[0].input(0) if outputs else None
        elif cls == "Switch":
            node = node.input(_which(node))
        else:
            node = node.input(0)
    return None


def _read_file(read, frame, view="main"):
    """The file a Read shows at `frame` (before/after: hold, loop, bounce, black=None, error)."""
    first, last = int(read["first"].value()), int(read["last"].value())
    if frame < first or frame > last:
        mode = read["before" if frame < first else "after"].value()
        if mode == "error":
            raise RuntimeError("{}: frame {} is outside {}-{}".format(read.fullName(), frame, first, last))
        if mode == "black":
            return None
        span = last - first + 1
        if mode == "loop":
            frame = first + (frame - first) % span
        elif mode == "bounce" and span > 1:
            k = (frame - first) % (2 * span - 2)
            frame = first + (k if k < span else 2 * span - 2 - k)
        else:
            frame = min(max(frame, first), last)
    pattern = read["file"].value()
    if not pattern:
        raise RuntimeError("{}: no file name".format(read.fullName()))
    path = _frame_file(pattern, frame, view)
    if not _os.path.isfile(path):
        raise RuntimeError("{}: Read error: {}: No such file or directory".format(read.fullName(), path))
    return path


class _Image(object):
    """What a node outputs: the bbox pixels (data window) and the format (display window)."""

    def __init__(self, pixels, names, bbox, fmt):
        self.pixels, self.names, self.bbox, self.format = pixels, list(names), tuple(bbox), tuple(fmt)

    def in_format(self):
        """The pixels inside the format (black outside the bbox, the overscan cut off)."""
        import numpy as np

        x0, y0, w, h = self.format
        out = np.zeros((h, w, self.pixels.shape[2]), np.float32)
        bx, by = self.bbox
        ph, pw = self.pixels.shape[:2]
        ax0, ay0, ax1, ay1 = max(bx, x0), max(by, y0), min(bx + pw, x0 + w), min(by + ph, y0 + h)
        if ax1 > ax0 and ay1 > ay0:
            out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] = self.pixels[ay0 - by:ay1 - by, ax0 - bx:ax1 - bx]
        return out


def _load(path):
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    if buf.has_error:
        raise RuntimeError("cannot read {}: {}".format(path, buf.geterror()))
    spec = buf.spec()
    return _Image(buf.get_pixels(oiio.FLOAT), spec.channelnames, (spec.x, spec.y),
                  (spec.full_x, spec.full_y, spec.full_width, spec.full_height))


def _image(node, frame, view="main"):
    read = _source(node, frame)
    if read is None:
        raise RuntimeError("{}: no image (nothing connected)".format(node.fullName()))
    path = _read_file(read, frame, view)
    if path is None:  # before/after "black": the format, no pixels
        import numpy as np

        first = _load(_read_file(read, int(read["first"].value()), view))
        return _Image(np.zeros((0, 0, len(first.names)), np.float32), first.names, (0, 0), first.format)
    return _load(path)


def _image_at(node, frame, view="main"):
    """Test hook: the pixels `node` outputs at `frame` inside its format (H x W x C float32 numpy array)."""
    return _image(node, frame, view).in_format()


def _channel_names(node):
    read = _source(node, 0)
    if read is None:
        return []
    import OpenImageIO as oiio

    first = int(read["first"].value())
    return list(oiio.ImageInput.open(_read_file(read, first)).spec().channelnames)


def _frame_range(node):
    if isinstance(node, Root):
        return node.firstFrame(), node.lastFrame()
    read = _source(node, 0)
    if read is None:
        return _state.root.firstFrame(), _state.root.lastFrame()
    return int(read["first"].value()), int(read["last"].value())


def execute(nameOrNode, start, end, incr=1, views=None, continueOnError=False):
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None:
        raise ValueError("no node " + repr(nameOrNode))
    if _threading.current_thread() is not _threading.main_thread():
        raise RuntimeError("nuke.execute must be called from the main thread")
    if node.Class() != "Write":
        raise RuntimeError("{} cannot be executed".format(node.fullName()))
    if node["disable"].value():
        raise RuntimeError("{}: cannot execute a disabled node".format(node.fullName()))
    if _SWITCHES.cancel_execute:
        raise CancelledError() if _SWITCHES.cancel_raises == "CancelledError" else RuntimeError("Cancelled")
    pattern = node["file"].value()
    if not pattern:
        raise RuntimeError("{}: no filename".format(node.fullName()))
    if node["file_type"].value() != "exr" or "datatype" not in node._knobs:
        raise RuntimeError("{}: this fake writes EXR only (set file_type to exr first)".format(node.fullName()))
    chosen = list(views) if views is not None else list(_state.views)
    if len(chosen) > 1 and "%V" not in pattern and "%v" not in pattern:
        raise RuntimeError("{}: {} views would write the same file (use %V in the file name)".format(node.fullName(), len(chosen)))
    for view in chosen:
        for frame in range(int(start), int(end) + 1, int(incr)):
            _write_frame(node, pattern, frame, view)
    _state.executed.append((node.fullName(), int(start), int(end)))


def _write_frame(node, pattern, frame, view):
    import numpy as np
    import OpenImageIO as oiio

    image = _image(node.input(0), frame, view)
    pixels, names = image.pixels, image.names
    wanted = {"rgb": ["R", "G", "B"], "rgba": ["R", "G", "B", "A"], "alpha": ["A"], "all": None}[node["channels"].value()]
    if wanted is not None:
        planes = [pixels[:, :, names.index(c)] if c in names else np.zeros(pixels.shape[:2], np.float32) for c in wanted]
        pixels, names = np.ascontiguousarray(np.stack(planes, axis=2)), list(wanted)
    (bx, by), (fx, fy, fw, fh) = image.bbox, image.format
    root = _state.root
    if root["proxy"].value():  # "executes all renders at the currently active scale"
        step = max(1, int(round(1.0 / float(root["proxy_scale"].value()))))
        pixels = np.ascontiguousarray(pixels[::step, ::step])
        bx, by, fx, fy, fw, fh = bx // step, by // step, fx // step, fy // step, fw // step, fh // step
    dst = _frame_file(pattern, frame, view)
    folder = _os.path.dirname(dst)
    if not _os.path.isdir(folder):
        if _SWITCHES.write_needs_existing_dir and not node["create_directories"].value():
            raise RuntimeError("{}: Can't open {}: No such file or directory".format(node.fullName(), dst))
        _os.makedirs(folder)
    half = node["datatype"].value() == "16 bit half"
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], oiio.HALF if half else oiio.FLOAT)
    spec.channelnames = tuple(names)
    spec.x, spec.y = bx, by  # data window = the bbox
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = fx, fy, fw, fh  # display window = the format
    spec.attribute("compression", "zip")
    if _SWITCHES.write_volatile_metadata:
        spec.attribute("capDate", _time.strftime("%Y:%m:%d %H:%M:%S") + " {}".format(_time.time()))
        spec.attribute("nuke/node_hash", "{:x}".format(int(_time.time() * 1e6)))
    out = oiio.ImageOutput.create(dst)
    if out is None or not out.open(dst, spec):
        raise RuntimeError("{}: cannot write {}: {}".format(node.fullName(), dst, oiio.geterror()))
    out.write_image(pixels)
    out.close()


def _reset():
    """Test hook: a fresh, empty script with default switches (GUI session)."""
    global GUI, _SWITCHES
    GUI = True
    env._data["gui"] = True
    _SWITCHES = _Switches()
    _state.__init__()
    _state.root = Root()
    _state.stack = [_state.root]


_reset()
