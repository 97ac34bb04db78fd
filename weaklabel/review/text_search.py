"""Case-blind substring search over every text of a run, fast at a million rows.

A plain scan (Arrow's ``match_substring`` over the lower-cased texts) reads every byte of
every text for each query: about half a second at a million short texts on two cores. The
``TextIndex`` built once in the review app's background warm-up keeps, per row, a bit
signature of the byte trigrams in its lower-cased text (a Bloom filter sized from the
texts' mean length). A query is then answered in two steps:

1. the rows whose signature holds every trigram of the query are the candidates — a few
   vectorised passes over the signature words, whatever the texts' length;
2. the candidates alone are scanned for the query (in two threads when there are many), so
   the answer is exact: a signature can only let extra rows through, never drop a match.

Queries shorter than three bytes have no trigram and scan every row (they match most rows,
so the scan stops early in each); so do queries whose trigrams are all common (a phrase of
frequent words), where a quarter of the rows or more are candidates: those cost what a
plain scan costs, split over two threads. The masks of recent queries are kept, so paging through
the results of one search costs no second scan.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["TextIndex"]

_HASH = np.uint32(2654435761)  # Knuth's multiplicative hash: trigram code -> well-spread bits
_BITS_PER_BYTE = 4  # signature bits per text byte (mean over rows): ~22% of bits set per row
_MAX_WORDS = 32  # at most 2,048 bits (256 bytes) per row, whatever the texts' length
_CHUNK_BYTES = 1 << 22  # texts hashed per step while building: bounds the build's memory
_PARALLEL_ROWS = 50_000  # candidates beyond which the exact scan runs in two threads
_GATHER_SHARE = 0.25  # beyond this share of the rows, scanning all costs less than gathering them
_CACHED_QUERIES = 8


def _trigram_hashes(data: np.ndarray) -> np.ndarray:
    """The 32-bit hash of the trigram starting at each byte of ``data`` (all but the last two)."""
    codes = data[:-2].astype(np.uint32) | (data[1:-1].astype(np.uint32) << 8) | (data[2:].astype(np.uint32) << 16)
    return codes * _HASH


def _match(texts: Any, needle: str) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.match_substring(texts, needle).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


class TextIndex:
    """Trigram signatures of the lower-cased ``texts`` (a pyarrow string array)."""

    def __init__(self, texts: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        lower = pc.utf8_lower(texts)
        if isinstance(lower, pa.ChunkedArray):
            lower = lower.combine_chunks()
        self.texts = lower.cast(pa.large_string())
        self.n_rows = len(self.texts)
        _, offsets, data = self.texts.buffers()
        self._offsets = np.frombuffer(offsets, dtype=np.int64)[self.texts.offset: self.texts.offset + self.n_rows + 1]
        self._data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        mean_bytes = (self._offsets[-1] - self._offsets[0]) / max(self.n_rows, 1)
        words = 1
        while words < _MAX_WORDS and 64 * words < _BITS_PER_BYTE * mean_bytes:
            words *= 2
        self._shift = np.uint32(32 - int(np.log2(64 * words)))
        self.signatures = self._signatures(words)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ building
    def _bit_numbers(self, data: np.ndarray) -> np.ndarray:
        return (_trigram_hashes(data) >> self._shift).astype(np.int64)

    def _signatures(self, words: int) -> np.ndarray:
        """(words, n_rows) uint64: bit ``b`` of row ``r`` is set when a trigram of the row
        hashes to ``b``. Built row block by row block, each a boolean (rows, bits) table
        packed into words."""
        bits = 64 * words
        signatures = np.zeros((words, self.n_rows), dtype=np.uint64)
        offsets = self._offsets
        start = 0
        while start < self.n_rows:
            stop = int(np.searchsorted(offsets, offsets[start] + _CHUNK_BYTES, side="right")) - 1
            stop = min(max(stop, start + 1), self.n_rows)
            first, last = int(offsets[start]), int(offsets[stop])
            if last - first >= 3:
                lengths = np.diff(offsets[start: stop + 1])
                row_of = np.repeat(np.arange(stop - start), lengths)[:-2]  # row of each trigram's first byte
                ends = np.cumsum(lengths)
                inside = np.arange(len(row_of)) + 3 <= ends[row_of]  # trigrams that end in their row
                table = np.zeros((stop - start, bits), dtype=bool)
                table[row_of[inside], self._bit_numbers(self._data[first:last])[inside]] = True
                signatures[:, start:stop] = np.packbits(table, axis=1, bitorder="little").view(np.uint64).T
            start = stop
        return signatures

    # ------------------------------------------------------------ querying
    def candidates(self, needle: str) -> np.ndarray | None:
        """Rows whose signature holds every trigram of the lower-cased ``needle``; None when
        it has no trigram (fewer than three bytes): every row is then a candidate."""
        data = np.frombuffer(needle.lower().encode("utf-8"), dtype=np.uint8)
        if len(data) < 3:
            return None
        bit_numbers = np.unique(self._bit_numbers(data))
        mask = np.ones(self.n_rows, dtype=bool)
        for word in np.unique(bit_numbers // 64):
            wanted = np.uint64(0)
            for bit in bit_numbers[bit_numbers // 64 == word]:
                wanted |= np.uint64(1) << np.uint64(bit % 64)
            mask &= (self.signatures[word] & wanted) == wanted
        return np.flatnonzero(mask)

    def search(self, needle: str) -> np.ndarray:
        """Boolean mask over the rows (read-only): the lower-cased text contains ``needle``."""
        needle = needle.lower()
        with self._lock:
            if needle in self._cache:
                self._cache.move_to_end(needle)
                return self._cache[needle]
        found = self._scan(needle, self.candidates(needle))
        found.flags.writeable = False  # shared by every caller of the cache
        with self._lock:
            self._cache[needle] = found
            while len(self._cache) > _CACHED_QUERIES:
                self._cache.popitem(last=False)
        return found

    def _scan(self, needle: str, rows: np.ndarray | None) -> np.ndarray:
        """The exact substring test on ``rows`` (every row when None)."""
        import pyarrow as pa

        found = np.zeros(self.n_rows, dtype=bool)
        if rows is None or len(rows) > _GATHER_SHARE * self.n_rows:
            half = self.n_rows // 2
            parts = [self.texts.slice(0, half), self.texts.slice(half)]
            with ThreadPoolExecutor(2) as pool:
                found[:] = np.concatenate(list(pool.map(_match, parts, [needle] * 2)))
            return found
        if len(rows) == 0:
            return found
        if len(rows) < _PARALLEL_ROWS:
            found[rows[_match(self.texts.take(pa.array(rows)), needle)]] = True
            return found
        halves = np.array_split(rows, 2)
        with ThreadPoolExecutor(2) as pool:
            hits = list(pool.map(lambda part: part[_match(self.texts.take(pa.array(part)), needle)], halves))
        found[np.concatenate(hits)] = True
        return found
