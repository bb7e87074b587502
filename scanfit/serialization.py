"""Turning objects into Keras-style config dicts and back, without running code.

Every config that scanfit reads or writes has Keras 3's shape:
``{"module": ..., "class_name": ..., "config": {...}, "registered_name": ...}``.
Reading one only ever looks a class up in a registry that scanfit built (or in
the caller's ``custom_objects``); nothing named in a file is imported.
"""


def to_config_dict(module, class_name, config):
    """The Keras 3 serialized form of one object."""
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def lookup(kind, registry, name, custom_objects=None):
    """Return ``registry[name]`` (or ``custom_objects[name]``) or raise a clear ValueError."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if isinstance(name, str) and name in registry:
        return registry[name]
    known = ", ".join(sorted(k for k in registry if not k.startswith("_")))
    raise ValueError(
        f"Unknown {kind} {name!r}. Known: {known}. "
        f"Pass custom_objects={{{name!r}: ...}} to use your own."
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
        cls = lookup(kind, registry, identifier["class_name"], custom_objects)
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            if isinstance(config, str) and not isinstance(cls, type):
                return cls
            raise ValueError(f"The 'config' of a {kind} must be a dict, got {config!r}")
        if not isinstance(cls, type):
            return cls
        if hasattr(cls, "from_config"):
            return cls.from_config(config)
        return cls(**config)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret {kind} {identifier!r} (a {type(identifier).__name__}): "
        f"expected a name, a config dict, or a {kind} object."
    )
