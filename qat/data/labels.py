"""The 12-class Speech Commands task: ten keywords plus silence and 'unknown word'."""

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
# Order used by TensorFlow's speech_commands example (and so by most published models).
CLASSES = (SILENCE, UNKNOWN) + KEYWORDS
BACKGROUND_NOISE_DIR = "_background_noise_"
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second


def label_index(word: str) -> int:
    """Class index of a folder name: keywords and the two special classes; other words are unknown."""
    if word in CLASSES:
        return CLASSES.index(word)
    return CLASSES.index(UNKNOWN)
