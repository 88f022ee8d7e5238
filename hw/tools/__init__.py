"""The outside tools, one module each (flags, versions, caching and error text live there once):
verilator.py (lint, env for cocotb and the compiled harness), yosys.py (synthesis + stat)."""
