"""A user's model file and arrays, checked before any work: each problem is one ``InputError``
naming the file, the value and what to do.

- ``load_user_model(path)``: a Keras/QKeras ``.h5`` (or ``.keras``) file;
- ``load_array(path, key)``: ``.npy``, or ``.npz`` holding ``key`` (``x`` for inputs, ``y`` for
  expected outputs);
- ``check_inputs(x, shape, in_t)``: batch of the model's input shape (a single vector is a batch of
  one), a real dtype, finite, every value on the input quantizer's grid (the RTL takes the codes
  of that grid; a value between two codes would be rounded before the first layer, silently);
- ``check_expected(y, n, shape)``: one expected output per input, reshaped to the output shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw.cli import InputError

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras")


def load_user_model(path):
    """The QKeras model in ``path`` (QKeras's and kwsflow's custom objects known)."""
    path = Path(path)
    if path.is_dir():
        if (path / "model.h5").exists():
            path = path / "model.h5"  # a training run folder
        else:
            raise InputError(f"{path} is a folder without model.h5: give the model file (.h5)")
    if not path.exists():
        raise InputError(f"{path} not found: give a saved Keras/QKeras model (.h5)")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(f"{path}: not a Keras model file (expected {', '.join(MODEL_SUFFIXES)}); "
                         "save the model with model.save('model.h5')")
    try:
        from qat.models import load_model
    except ImportError:  # training side not importable: QKeras's own custom objects
        from qkeras.utils import load_qmodel as load_model
    try:
        return load_model(path)
    except Exception as err:  # noqa: BLE001 - h5py/Keras raise many types for a bad file
        raise InputError(f"{path}: cannot be loaded as a Keras model ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:300]}); save it with model.save('model.h5')") from None


def load_array(path, key: str) -> np.ndarray:
    """``.npy`` -> its array; ``.npz`` -> its array ``key``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} not found")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path}: not a NumPy .npy/.npz file ({' '.join(str(err).split())[:200]})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if key not in data.files:
                raise InputError(f"{path} holds {sorted(data.files)} but no {key!r}: save it with "
                                 f"np.savez(path, {key}=array)")
            return np.asarray(data[key])
    return np.asarray(data)


def _as_batch(a: np.ndarray, shape: tuple, path, what: str) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    if a.shape == shape:
        return a[None]
    if a.ndim >= 1 and a.shape[1:] == shape:
        if len(a) == 0:
            raise InputError(f"{path}: no {what} (shape {a.shape})")
        return a
    raise InputError(f"{path}: {what} of shape {a.shape}, the model takes (N, {', '.join(map(str, shape))}); "
                     "reshape the array to a batch of that shape")


def _real(a: np.ndarray, path, what: str) -> np.ndarray:
    if a.dtype.kind not in "iuf":
        raise InputError(f"{path}: {what} of dtype {a.dtype}; give integers or floats")
    bad = ~np.isfinite(a.astype(np.float64))
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{path}: {int(bad.sum())} {what} values are NaN or inf (first at index {first}); "
                         "replace them with finite values")
    return a.astype(np.float64)


def check_inputs(x: np.ndarray, shape: tuple, in_t, path="inputs", quantizer: str = "") -> np.ndarray:
    """x as a float64 batch of ``shape``; every value a value of the input type ``in_t`` (FixedType)."""
    x = _real(_as_batch(np.asarray(x), shape, path, "inputs"), path, "input")
    on_grid = in_t.to_float(in_t.quantize(x)) == x
    if not on_grid.all():
        first = tuple(int(i) for i in np.argwhere(~on_grid)[0])
        name = quantizer or in_t.to_hls()
        raise InputError(
            f"{path}: {int((~on_grid).sum())} of {x.size} input values are not values of the input quantizer "
            f"{name} (steps of {in_t.lsb:g} in [{in_t.min:g}, {in_t.max:g}]; first at index {first}: {x[first]!r}); "
            "quantize them first (the model's input QActivation does it), or pass --quantize-inputs")
    return x


def check_expected(y: np.ndarray, n: int, shape: tuple, path="expected") -> np.ndarray:
    """y as a float64 (n, *shape) batch."""
    y = np.asarray(y)
    shape = tuple(int(d) for d in shape)
    per = int(np.prod(shape))
    if y.size != n * per:
        raise InputError(f"{path}: {y.size} values for {n} inputs of output shape {shape} (want {n * per}); "
                         "give one raw model output per input")
    return _real(y.reshape(n, *shape), path, "expected")
