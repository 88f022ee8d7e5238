"""The error every stage of hw/ raises for a layer it does not implement (golden model, RTL)."""


class UnsupportedLayerError(ValueError):
    """A layer class, attribute or width a stage does not implement; names the layer."""

    def __init__(self, layer_name: str, layer_class: str | None, reason: str):
        self.layer_name, self.layer_class, self.reason = layer_name, layer_class, reason
        where = f"layer '{layer_name}'" + (f" ({layer_class})" if layer_class else "")
        super().__init__(f"{where}: {reason}")
