"""Errors the RTL generator raises; each names the layer it could not handle."""


class RtlGenerationError(RuntimeError):
    """The graph cannot be turned into RTL; nothing is left in the output directory."""


class UnsupportedLayerError(RtlGenerationError):
    """A layer class, attribute or width the generator does not implement."""

    def __init__(self, layer_name: str, layer_class: str, reason: str):
        self.layer_name, self.layer_class, self.reason = layer_name, layer_class, reason
        super().__init__(f"layer '{layer_name}' ({layer_class}): {reason}")
