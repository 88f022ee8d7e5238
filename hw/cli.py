"""What every command-line entry point shares: quiet by default, one ``error:`` line instead of a
traceback.

``run_main(main, argv)`` calls a ``main(argv) -> int``; the errors a user causes (a refused model, a
missing or malformed file, an array of the wrong shape) become one ``error:`` line each and exit
status 2; anything else is a bug of ours, said so in one line, exit status 3. ``--debug`` (or
``KWS_DEBUG=1``) lets the traceback through instead. ``-v`` (or ``KWS_VERBOSE=1``) keeps
TensorFlow's and hls4ml's chatter; without it, ``quiet()`` drops their warnings and hls4ml's
per-layer prints, so a command prints its own result and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings

EXIT_REFUSED = 2  # the model, a file or an argument was refused (the user can fix it)
EXIT_BUG = 3      # an exception we did not expect


class InputError(ValueError):
    """A file or array the user gave cannot be used; ``str()`` says which, what is wrong and what to do."""


def verbose() -> bool:
    return os.environ.get("KWS_VERBOSE", "") not in ("", "0")


def silence_libraries() -> None:
    """Before TensorFlow is imported: its C++ log, Python warnings and the tf/absl loggers."""
    if verbose():
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet():
    """hls4ml reports every layer (and Keras warns) with print(): drop it unless verbose."""
    if verbose():
        yield
        return
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "your input was refused", each with a message saying why."""
    from hw.convert import UnsupportedModelError
    from hw.errors import UnsupportedLayerError
    from hw.rtl.errors import RtlGenerationError
    from hw.vectors import VectorsError

    return (InputError, UnsupportedModelError, UnsupportedLayerError, RtlGenerationError, VectorsError,
            FileNotFoundError, IsADirectoryError, NotADirectoryError, argparse.ArgumentTypeError)


def error_lines(err: BaseException) -> list[str]:
    """One ``error:`` line per problem (a refused model lists one per layer)."""
    problems = getattr(err, "problems", None)
    if problems:
        return [f"error: layer {layer!r}: {why}" for layer, why in problems]
    text = " ".join(str(err).split()) or type(err).__name__
    return [f"error: {text}"]


def run_main(main, argv=None, prog: str = "kwsflow") -> int:
    """``main(argv)`` with the error policy above; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("KWS_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if "-v" in argv or "--verbose" in argv:
        os.environ["KWS_VERBOSE"] = "1"
        argv = [a for a in argv if a not in ("-v", "--verbose")]
    silence_libraries()
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the whole point: one line, not a traceback
        if debug:
            raise
        if isinstance(err, user_errors()):
            for line in error_lines(err):
                print(line, file=sys.stderr)
            return EXIT_REFUSED
        print(f"error: {prog}: unexpected {type(err).__name__}: {' '.join(str(err).split())} "
              "(a bug: please report it with the output of --debug)", file=sys.stderr)
        return EXIT_BUG
