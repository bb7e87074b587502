"""Argument checks shared by layers and optimizers: clear errors that name the argument."""
import numbers

import numpy as np


def in_range(name, value, low=None, high=None, high_open=False, low_open=False):
    """`value` as a float, or a ValueError naming `name` when it is not a number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise ValueError(f"`{name}` must be a finite number, got {name}={value!r}.")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}" if high is not None else \
            f"{'>' if low_open else '>='} {low}"
        raise ValueError(f"`{name}` must be {'in ' if high is not None else ''}{bounds}, got {name}={value!r}.")
    return value


def int_at_least(name, value, smallest, allow_none=True):
    """`value` as an int (None passes when `allow_none`), or a ValueError naming `name` when it is not an int
    >= `smallest`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < smallest:
        raise ValueError(f"`{name}` must be an int >= {smallest}{' or None' if allow_none else ''}, got "
                         f"{name}={value!r}.")
    return int(value)
