"""`keras.name_scope`: a context manager that puts a prefix before the paths of the variables made inside it.

    with keras.name_scope("encoder"):
        v = keras.Variable(1.0, name="v")          # v.path == "encoder/v"
        dense.build((None, 3))                      # dense.kernel.path == "encoder/dense/kernel"

As in Keras 3, the prefix is that of the scopes open when a variable is created (a layer's weights: when the
layer is built), scopes nest (``outer/inner/v``), and ``override_parent="a/b"`` replaces the path of the scopes
around it. Inside a scope, JAX's ``named_scope`` of the same name is open too, so traced operations carry it
(in profiles and HLO metadata).
"""
import threading

import jax

_local = threading.local()  # each thread's entered scopes (a model traced on another thread opens its own)


def _open():
    """This thread's entered scopes, innermost last."""
    if not hasattr(_local, "scopes"):
        _local.scopes = []
    return _local.scopes


class name_scope:
    """A scope named `name` (a string without ``/``). Entered again directly inside itself with the same
    `caller` object (``deduplicate=True``), it adds no second level; `override_parent` is an absolute path
    that replaces the enclosing scopes' one."""

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"name_scope() takes a name without '/', got name={name!r}; nest two scopes for a "
                             "path of two parts.")
        if override_parent is not None and not isinstance(override_parent, str):
            raise ValueError(f"name_scope(override_parent=...) takes a path string such as 'a/b', got "
                             f"{override_parent!r}.")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        self._entered = None  # the jax.named_scope this scope opened, when it added a level

    def __enter__(self):
        scopes = _open()
        repeated = (self.deduplicate and self.caller is not None and scopes
                    and scopes[-1].caller is self.caller and scopes[-1].name == self.name)
        if not repeated:
            self._entered = jax.named_scope(self.name)
            self._entered.__enter__()
            scopes.append(self)
        return self

    def __exit__(self, *exc_info):
        if self._entered is not None:
            _open().remove(self)
            entered, self._entered = self._entered, None
            entered.__exit__(*exc_info)


def current_path():
    """The path of the open scopes (``"outer/inner"``), or ``""`` outside every scope."""
    parts = []
    for scope in _open():
        if scope.override_parent is not None:
            parts = [part for part in scope.override_parent.split("/") if part]
        parts.append(scope.name)
    return "/".join(parts)


def scoped(path):
    """`path` under the open scopes' path (unchanged outside every scope)."""
    prefix = current_path()
    return f"{prefix}/{path}" if prefix else path
