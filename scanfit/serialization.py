"""Turning objects into Keras-style config dicts and back, without running code.

Every config that scanfit reads or writes has Keras 3's shape:
``{"module": ..., "class_name": ..., "config": {...}, "registered_name": ...}``.
Reading one only ever looks a class up in a registry that scanfit built (or in
the caller's ``custom_objects``); nothing named in a file is imported.

The caller's objects reach every level of a config: `load_model` and the
other readers enter a `CustomObjectScope` holding their ``custom_objects``,
and every lookup made while it is active (a layer's activation, a Dense
layer's regularizer, a custom layer's own sub-objects) sees them too. A scope
holds only what Python code put there, never anything read from a file.
"""
import contextvars
import types
from collections.abc import Mapping

# The objects of the enclosing `CustomObjectScope`s, merged (innermost wins); per thread and per task.
_SCOPE = contextvars.ContextVar("scanfit_custom_objects", default=None)
_MISSING = object()


class CustomObjectScope:
    """``with CustomObjectScope({"name": obj, ...}):`` makes those objects known to every lookup inside.

    Like ``keras.saving.custom_object_scope``: while the scope is active,
    deserializing a config that names ``"name"`` at any depth (a layer, the
    activation or regularizer inside a layer's config, a loss, a metric)
    finds ``obj``. Scopes nest; an inner one wins on a clash, and a
    ``custom_objects`` argument given to a call wins over both. Several
    mappings may be given; later ones win.
    """

    def __init__(self, *custom_objects):
        merged = {}
        for objects in custom_objects:
            if objects is None:
                continue
            if not isinstance(objects, Mapping):
                raise TypeError(
                    f"custom_objects must be a dict mapping names to classes or functions, got "
                    f"{type(objects).__name__}: {objects!r:.200}"
                )
            merged.update(objects)
        self.custom_objects = merged
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_SCOPE.set({**(_SCOPE.get() or {}), **self.custom_objects}))
        return self

    def __exit__(self, *exc_info):
        _SCOPE.reset(self._tokens.pop())
        return False


custom_object_scope = CustomObjectScope

# Whether loading refuses to run code stored in a file (a Lambda's bytecode); per thread and per task.
_SAFE_MODE = contextvars.ContextVar("scanfit_safe_mode", default=True)


class SafeModeScope:
    """``with SafeModeScope(False):`` lets the loads inside rebuild a Lambda from its stored bytecode.

    Safe mode is on unless a scope turns it off; `load_model(safe_mode=...)`
    enters one. Only ever turn it off for a file you trust.
    """

    def __init__(self, safe_mode=True):
        if not isinstance(safe_mode, bool):
            raise TypeError(f"safe_mode must be True or False, got safe_mode={safe_mode!r}")
        self.safe_mode = safe_mode
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_SAFE_MODE.set(self.safe_mode))
        return self

    def __exit__(self, *exc_info):
        _SAFE_MODE.reset(self._tokens.pop())
        return False


def enable_unsafe_deserialization():
    """Keras's ``config.enable_unsafe_deserialization``: from now on (in this thread), configs read outside
    `load_model` (``model_from_json``, ``from_config``, ``deserialize_keras_object``) rebuild Lambda layers from
    their stored code; `load_model` still asks for its own ``safe_mode=False``. Only for configs you trust."""
    _SAFE_MODE.set(False)


def in_safe_mode():
    """True unless an enclosing `SafeModeScope(False)` turned safe mode off."""
    return _SAFE_MODE.get()


def current_custom_objects():
    """The objects of the enclosing `CustomObjectScope`s (a new dict)."""
    return dict(_SCOPE.get() or {})


_BUILT_IN = {}  # kind ("layer", "model") -> {class name: class}: scanfit's own classes, as their modules register them


def register_built_in(kind, classes):
    """Make scanfit's own classes of `kind` ("layer" or "model") known by name to the config readers.

    The modules that define the classes call this, so that reading a
    config never needs to import them (the readers sit below them).
    """
    _BUILT_IN.setdefault(kind, {}).update(classes)


def built_in(kind):
    """scanfit's own classes of `kind`, ``{class name: class}`` (a new dict)."""
    return dict(_BUILT_IN.get(kind, {}))


_REGISTERED = {}  # "package>Name" -> class, filled by register_keras_serializable
_NAMES = {}  # class -> "package>Name"


def register_keras_serializable(package="Custom", name=None):
    """Class (or function) decorator: save it as ``"package>Name"`` and find it by that name when loading.

    Only classes registered this way (in the loading process) or passed in
    ``custom_objects`` are ever rebuilt from a file.
    """
    def register(cls):
        key = f"{package}>{name or cls.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not cls:
            raise ValueError(f"{key!r} is already registered to {_REGISTERED[key]!r}.")
        _REGISTERED[key] = cls
        _NAMES[cls] = key
        return cls

    return register


def registered_name(cls):
    """The name `register_keras_serializable` gave `cls`, or its class name."""
    return _NAMES.get(cls, cls.__name__)


def get_registered_name(obj):
    """Keras's ``get_registered_name``: the name a class (or an instance's class, or a function) is saved as."""
    cls = obj if isinstance(obj, type) or callable(obj) and not hasattr(obj, "get_config") else type(obj)
    return _NAMES.get(cls, getattr(cls, "__name__", str(cls)))


def get_custom_objects():
    """Keras's ``get_custom_objects``: the live global dict of objects that loading finds by name (the
    registered classes among them); ``get_custom_objects()["MyLayer"] = MyLayer`` makes one known everywhere."""
    return _REGISTERED


def get_registered_object(name, custom_objects=None, module_objects=None):
    """Keras's ``get_registered_object``: what `name` means to loading (`custom_objects`, the enclosing scopes,
    the global dict), then in `module_objects`; None if nothing."""
    found = _custom_object(name, custom_objects)
    if found is not _MISSING:
        return found
    return (module_objects or {}).get(name)


def _custom_object(name, custom_objects):
    """What the caller supplied under `name`: the `custom_objects` argument first, then the scopes, then the
    registered classes; else _MISSING."""
    if not isinstance(name, str):
        return _MISSING
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    scope = _SCOPE.get()
    if scope and name in scope:
        return scope[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    return _MISSING


def is_custom_object(name, custom_objects=None):
    """Whether the caller supplied an object under `name` (in `custom_objects` or an enclosing scope)."""
    return _custom_object(name, custom_objects) is not _MISSING


def to_config_dict(module, class_name, config):
    """The Keras 3 serialized form of one object."""
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def object_config(module, obj, registry, config):
    """The Keras 3 serialized form of `obj`, built-in or the user's own.

    A class of scanfit's `registry` is written under Keras's public `module`
    (``keras.regularizers``). Any other class is the user's: as Keras writes
    custom objects, it gets its own module and a ``registered_name`` (its
    class name), which is what Keras looks up in ``custom_objects``. Readers
    here only ever use the ``class_name``. A built-in class that Keras keeps outside its public API names
    Keras's module in its ``keras_module`` attribute, and is written there under its class name, as Keras
    writes it (``keras.src.applications.convnext``'s ``LayerScale``).
    """
    cls = type(obj)
    if registry.get(cls.__name__) is cls:
        keras_module = getattr(cls, "keras_module", None)
        if keras_module is not None:
            return {"module": keras_module, "class_name": cls.__name__, "config": config,
                    "registered_name": cls.__name__}
        return to_config_dict(module, cls.__name__, config)
    return {
        "module": None if cls.__module__ == "__main__" else cls.__module__,
        "class_name": cls.__name__,
        "config": config,
        "registered_name": registered_name(cls),
    }


def function_config(fn):
    """How Keras 3 serializes a plain function: by its name, or the ``"package>name"`` it was registered under
    (loading finds it there, or in ``custom_objects``)."""
    return {"module": "builtins", "class_name": "function", "config": _NAMES.get(fn, fn.__name__),
            "registered_name": "function"}


def serialize_object(kind, obj, base, module, registry):
    """Keras 3's serialized form of an initializer, regularizer or constraint `obj` (None stays None): a
    config dict for an instance of `base`, the name of a named function (Hands-on ML's ``my_l1_regularizer``)."""
    if obj is None:
        return None
    if isinstance(obj, base):
        return object_config(module, obj, registry, obj.get_config())
    if isinstance(obj, types.FunctionType) and obj.__name__ != "<lambda>":
        return function_config(obj)
    raise TypeError(
        f"Cannot serialize {kind} {obj!r}: expected a {base.__name__} instance or a named (non-lambda) function "
        f"(subclass {base.__module__}.{base.__name__} and define get_config, or write a def)."
    )


def config_name(config, custom_objects=None):
    """The name to look a config dict's class up by: its ``registered_name`` (``"package>Name"``) when a class
    was registered or supplied under it, else its ``class_name``."""
    registered = config.get("registered_name")
    return registered if is_custom_object(registered, custom_objects) else config["class_name"]


def lookup(kind, registry, name, custom_objects=None):
    """The object the caller supplied under `name`, else ``registry[name]``, else a clear ValueError.

    The caller's objects are `custom_objects` and those of the enclosing
    `CustomObjectScope`s (which `load_model` enters with its own
    ``custom_objects``); they win over the registry, as in Keras.
    """
    found = _custom_object(name, custom_objects)
    if found is not _MISSING:
        return found
    if isinstance(name, str) and name in registry:
        return registry[name]
    known = ", ".join(sorted(k for k in registry if not k.startswith("_")))
    raise ValueError(
        f"Unknown {kind} {name!r}. Known: {known}. "
        f"Pass custom_objects={{{name!r}: ...}} (to load_model, or to scanfit.saving.custom_object_scope) "
        "to use your own."
    )


def resolve(kind, registry, identifier, custom_objects=None):
    """Turn a name, a config dict, or an object into a usable object.

    ``registry`` maps names (snake_case aliases and class names) to classes or
    functions. A class found by a string name is instantiated with no
    arguments; a dict is ``cls.from_config(config)`` (or ``cls(**config)``).
    Callables and instances pass through unchanged; None stays None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        found = lookup(kind, registry, identifier, custom_objects)
        return found() if isinstance(found, type) else found
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"A {kind} config must have a 'class_name' key, got {identifier!r}")
        if identifier["class_name"] == "function" and isinstance(identifier.get("config"), str):
            return lookup(kind, registry, identifier["config"], custom_objects)  # a function saved by its name
        cls = lookup(kind, registry, config_name(identifier, custom_objects), custom_objects)
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            if isinstance(config, str) and not isinstance(cls, type):
                return cls
            raise ValueError(f"The 'config' of a {kind} must be a dict, got {config!r}")
        if not isinstance(cls, type):
            return cls
        if custom_objects:  # the object's own config may name them too
            with CustomObjectScope(custom_objects):
                return _from_config(cls, config)
        return _from_config(cls, config)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret {kind} {identifier!r} (a {type(identifier).__name__}): "
        f"expected a name, a config dict, or a {kind} object."
    )


def _from_config(cls, config):
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    return cls(**config)
