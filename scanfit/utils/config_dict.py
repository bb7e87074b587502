"""`keras.utils.Config`: a dict of named settings that also reads and writes them as attributes, and can be
frozen against changes.

    config = keras.utils.Config(learning_rate=0.1)
    config.momentum = 0.9                  # the same as config["momentum"] = 0.9
    config.freeze()                        # from now on a change raises ValueError
    config.to_json()                       # '{"learning_rate": 0.1, "momentum": 0.9}'
"""
import difflib
import json

_OWN_ATTRIBUTES = ("_entries", "_frozen")


class Config:
    """Named values, read and written as items (``config["seed"]``) or attributes (``config.seed``)."""

    def __init__(self, **kwargs):
        object.__setattr__(self, "_entries", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self):
        """Whether `freeze` has been called (and `unfreeze` not since)."""
        return self._frozen

    def freeze(self):
        """Refuse every change from now on (with a ValueError)."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        """Allow changes again."""
        object.__setattr__(self, "_frozen", False)

    def _check_not_frozen(self):
        if self._frozen:
            raise ValueError("This Config is frozen and cannot be changed; call unfreeze() first.")

    def as_dict(self):
        """A shallow copy of the entries as a dict."""
        return dict(self._entries)

    def to_json(self):
        return json.dumps(self._entries)

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def pop(self, *args):
        self._check_not_frozen()
        return self._entries.pop(*args)

    def update(self, *args, **kwargs):
        self._check_not_frozen()
        self._entries.update(*args, **kwargs)

    def __getattr__(self, name):
        if name in _OWN_ATTRIBUTES:  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=1, cutoff=0.7)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise AttributeError(f"Unknown attribute: '{name}'.{hint}") from None

    def __setattr__(self, name, value):
        if hasattr(type(self), name):
            raise AttributeError(f"'{name}' is a method or property of Config; set it as config[{name!r}].")
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"Unknown attribute: '{name}'.") from None

    def __getitem__(self, key):
        return self._entries[key]

    def __setitem__(self, key, value):
        self._check_not_frozen()
        self._entries[key] = value

    def __delitem__(self, key):
        self._check_not_frozen()
        del self._entries[key]

    def __contains__(self, key):
        return key in self._entries

    def __iter__(self):
        """The keys in sorted order, as Keras iterates them."""
        return iter(sorted(self._entries))

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"<Config {self._entries}>"
