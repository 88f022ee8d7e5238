"""Keyword-spotting audio: the Speech Commands layouts, an offline synthetic set, augmentation.

Every source ends up as the same thing: a list of `ClipRef`s per split, which `load_clips`
turns into one-second 16 kHz float32 waveforms (see `clips.py`).
"""

from qat.data.labels import CLASSES, KEYWORDS, SILENCE, UNKNOWN  # noqa: F401
from qat.data.wav import AudioError, read_wav  # noqa: F401
