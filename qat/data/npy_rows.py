"""Writing a 2-D `.npy` one row at a time, with plain file writes.

Why not `np.lib.format.open_memmap(mode="w+")`: the written pages of a writable map stay in the
writer's resident set, so building a 3.4 GB clip cache that way would show (and be accounted
as) 3.4 GB of process memory. File writes go through the page cache only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class NpyRowWriter:
    """`append` rows of `columns` values of `dtype`; `close` fixes the row count in the header.

    The header is written first for `max_rows` rows; numpy pads headers so the first axis may
    grow or shrink in place (that is what `open_memmap` appending relies on), so fewer rows
    (unreadable clips are dropped) only rewrite the header and truncate the file.
    """

    def __init__(self, path: str | Path, max_rows: int, columns: int, dtype=np.int16):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.columns = columns
        self.max_rows = max_rows
        self.rows = 0
        self._file = open(self.path, "wb")
        self._header_len = self._write_header(max_rows)

    def _write_header(self, rows: int) -> int:
        self._file.seek(0)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, self.columns)}
        np.lib.format.write_array_header_1_0(self._file, header)
        return self._file.tell()

    def append(self, row: np.ndarray) -> None:
        if self.rows >= self.max_rows:
            raise ValueError(f"{self.path}: more than the {self.max_rows} rows announced")
        row = np.ascontiguousarray(row, dtype=self.dtype)
        if row.shape != (self.columns,):
            raise ValueError(f"{self.path}: row of shape {row.shape}, expected ({self.columns},)")
        self._file.write(row.tobytes())
        self.rows += 1

    def close(self) -> None:
        if self._file.closed:
            return
        if self.rows != self.max_rows:
            end = self._file.tell()
            if self._write_header(self.rows) != self._header_len:  # cannot happen with numpy's padding
                raise RuntimeError(f"{self.path}: the .npy header changed length when rewritten")
            self._file.truncate(end)
        self._file.close()

    def __enter__(self) -> "NpyRowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
