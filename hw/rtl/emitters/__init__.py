"""One emitter module per hls4ml layer class; see hw/rtl/registry.py for the table."""
