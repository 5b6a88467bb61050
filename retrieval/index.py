"""A persistent FAISS index whose ids are the SQL primary keys of the items it covers.

Small collections use an exact flat inner-product index; past ``flat_threshold`` the
index is rebuilt as IVF (SQ8 codes by default, PQ for very large stores), trained on
the data itself. IVF is chosen over HNSW because it supports removal by id, which the
SQL reconciliation needs, and because its inverted lists can live on disk at 30M+.

The on-disk form is one file, replaced atomically: a JSON header (dimension, layout,
owner store id, embedder fingerprint, checksums), the sorted id array, then the
serialised FAISS index. A torn or tampered file fails its checksum and is reported as
corrupt rather than silently used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from pydantic import BaseModel, Field

from retrieval.files import fsync_dir, writer_gone

log = logging.getLogger(__name__)

MAGIC = b"MNEMOSVX"
#: Below this many queries FAISS runs single-threaded: OpenMP fan-out costs more than it saves for
#: one query, and on a busy machine spinning threads made single-query latency 10-20x worse.
SMALL_BATCH = 8
FORMAT_VERSION = 1


class IndexError_(Exception):
    """Base for index file problems (named to avoid shadowing the builtin)."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexStale(IndexError_):
    """The file is intact but belongs to another database, embedder or dimension."""


class IndexConfig(BaseModel):
    """How an index is laid out; defaults meet the 1M targets (recall@8 >= 0.95, p50 < 5 ms, < 1 GiB)."""

    flat_threshold: int = Field(50_000, ge=1, description="Below this many vectors, search exactly.")
    codec: Literal["SQ8", "PQ", "Flat"] = Field("SQ8", description="IVF code: SQ8 (1 byte/dim), PQ (pq_m bytes), Flat.")
    pq_m: int = Field(48, ge=1, description="PQ sub-quantizers (bytes per vector) when codec=PQ.")
    nlist: int | None = Field(None, ge=1, description="IVF lists; None = about 2*sqrt(n), power of two.")
    nprobe: int | None = Field(None, ge=1, description="Lists probed per query; None = nlist/32, at least 16.")
    retrain_growth: float = Field(8.0, gt=1, description="Rebuild an IVF index once it holds this many times its training size.")
    max_train: int = Field(131_072, ge=1000, description="Cap on training vectors (k-means cost).")
    threads: int | None = Field(None, ge=1, description="FAISS OpenMP threads; None = library default.")


def auto_nlist(n: int) -> int:
    target = max(64, 2 * math.sqrt(max(n, 1)))
    return int(2 ** round(math.log2(target)))


def auto_nprobe(nlist: int) -> int:
    return min(nlist, max(16, nlist // 32))


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class SearchResult:
    ids: np.ndarray
    scores: np.ndarray


@dataclass
class VectorIndex:
    """FAISS index + the sorted array of ids it holds + provenance for staleness checks."""

    dim: int
    config: IndexConfig
    owner: str = ""
    fingerprint: str = ""
    index: faiss.Index | None = None
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trained_on: int = 0
    dirty: int = 0

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls, dim: int, config: IndexConfig | None = None, owner: str = "", fingerprint: str = "") -> VectorIndex:
        idx = cls(dim=dim, config=config or IndexConfig(), owner=owner, fingerprint=fingerprint)
        idx.index = idx._new_flat()
        return idx

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        dim: int,
        config: IndexConfig | None = None,
        owner: str = "",
        fingerprint: str = "",
    ) -> VectorIndex:
        """A fresh index over ``vectors``; picks flat or IVF by size and trains IVF on the data."""
        config = config or IndexConfig()
        ids, vectors = _check_batch(ids, vectors, dim)
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
        if len(ids) and np.any(ids[1:] == ids[:-1]):
            raise ValueError("duplicate ids in index build")
        idx = cls(dim=dim, config=config, owner=owner, fingerprint=fingerprint)
        if config.threads:
            faiss.omp_set_num_threads(config.threads)
        if len(ids) < config.flat_threshold:
            idx.index = idx._new_flat()
        else:
            idx.index = idx._new_ivf(vectors)
            idx.trained_on = len(ids)
        if len(ids):
            idx.index.add_with_ids(vectors, ids)
        idx.ids = ids
        idx.dirty = 1
        return idx

    def _new_flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _new_ivf(self, vectors: np.ndarray) -> faiss.Index:
        n = len(vectors)
        nlist = self.config.nlist or auto_nlist(n)
        nlist = max(1, min(nlist, n // 39 or 1))
        code = {"SQ8": "SQ8", "Flat": "Flat", "PQ": f"PQ{self.config.pq_m}x8"}[self.config.codec]
        index = faiss.index_factory(self.dim, f"IVF{nlist},{code}", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = 256
        sample = vectors
        if n > self.config.max_train:
            rng = np.random.default_rng(0)
            sample = vectors[np.sort(rng.choice(n, self.config.max_train, replace=False))]
        started = time.perf_counter()
        index.train(np.ascontiguousarray(sample))
        ivf.nprobe = self.config.nprobe or auto_nprobe(nlist)
        log.info("trained IVF%d,%s on %d vectors in %.1f s", nlist, code, len(sample), time.perf_counter() - started)
        return index

    # ----- facts --------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def layout(self) -> str:
        if self.index is None or isinstance(self.index, faiss.IndexIDMap):
            return "flat"
        ivf = faiss.extract_index_ivf(self.index)
        return f"ivf{ivf.nlist}-{self.config.codec.lower()}"

    @property
    def nprobe(self) -> int | None:
        if self.layout == "flat":
            return None
        return int(faiss.extract_index_ivf(self.index).nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.layout != "flat":
            faiss.extract_index_ivf(self.index).nprobe = int(value)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(ids, dtype=np.int64), self.ids)

    def wants_rebuild(self) -> str | None:
        """Why this index should be rebuilt for its current size (None if it is fine)."""
        if self.layout == "flat" and self.count >= self.config.flat_threshold:
            return f"{self.count} vectors passed the exact-search threshold {self.config.flat_threshold}"
        if self.layout != "flat" and self.count >= self.config.retrain_growth * max(self.trained_on, 1):
            return f"{self.count} vectors, trained on {self.trained_on}: retraining the coarse quantizer"
        return None

    def memory_bytes(self) -> int:
        """Bytes the index occupies when serialised (≈ its resident size)."""
        return int(faiss.serialize_index(self.index).nbytes) + self.ids.nbytes

    # ----- mutation -----------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Add vectors for ids not yet present (re-adding is a no-op, so replays cannot duplicate)."""
        ids, vectors = _check_batch(ids, vectors, self.dim)
        if not len(ids):
            return 0
        _, first = np.unique(ids, return_index=True)
        keep = np.zeros(len(ids), dtype=bool)
        keep[first] = True
        keep &= ~self.contains(ids)
        ids, vectors = ids[keep], vectors[keep]
        if len(ids):
            self.index.add_with_ids(vectors, ids)
            self.ids = np.union1d(self.ids, ids)
            self.dirty += len(ids)
        return len(ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[self.contains(ids)]
        if not len(ids):
            return 0
        removed = self.index.remove_ids(faiss.IDSelectorBatch(ids))
        self.ids = np.setdiff1d(self.ids, ids)
        self.dirty += len(ids)
        return int(removed)

    # ----- search -------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, allow: np.ndarray | None = None) -> list[SearchResult]:
        """Top-``k`` by inner product per query; ``allow`` restricts candidates to those ids."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query has dimension {queries.shape[1]}, index has {self.dim}")
        empty = SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
        if k <= 0 or self.count == 0:
            return [empty for _ in range(len(queries))]
        k = min(k, self.count)
        params = None
        sel = None
        if allow is not None:
            allow = np.asarray(allow, dtype=np.int64)
            if not len(allow):
                return [empty for _ in range(len(queries))]
            sel = faiss.IDSelectorBatch(allow)
        if self.layout == "flat":
            if sel is not None:
                params = faiss.SearchParameters(sel=sel)
        else:
            params = faiss.SearchParametersIVF(nprobe=self.nprobe)
            if sel is not None:
                params.sel = sel
        with _threads(1 if len(queries) < SMALL_BATCH else None):
            scores, ids = self.index.search(queries, k, params=params)
        out = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            valid = row_ids >= 0
            out.append(SearchResult(row_ids[valid].astype(np.int64), row_scores[valid].astype(np.float32)))
        return out

    # ----- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically (temp file, fsync, rename), so readers see the old or the new file, never half."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = faiss.serialize_index(self.index)
        ids = np.ascontiguousarray(self.ids, dtype=np.int64)
        header = {
            "format": FORMAT_VERSION,
            "dim": self.dim,
            "layout": self.layout,
            "count": len(ids),
            "owner": self.owner,
            "fingerprint": self.fingerprint,
            "trained_on": self.trained_on,
            "config": self.config.model_dump(),
            "ids_sha256": _sha256(ids.tobytes()),
            "body_sha256": _sha256(body.tobytes()),
            "saved_at": time.time(),
        }
        head = json.dumps(header).encode()
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            f.write(ids.tobytes())
            f.write(body.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
        self.dirty = 0

    @classmethod
    def load(
        cls,
        path: Path,
        dim: int,
        owner: str = "",
        fingerprint: str = "",
        config: IndexConfig | None = None,
    ) -> VectorIndex:
        """Read and verify a saved index; raises IndexMissing / IndexCorrupt / IndexStale."""
        path = Path(path)
        for stale_tmp in path.parent.glob(path.name + ".*.tmp"):
            if writer_gone(stale_tmp):
                stale_tmp.unlink(missing_ok=True)
        if not path.is_file():
            raise IndexMissing(f"{path} does not exist")
        data = memoryview(path.read_bytes())
        try:
            if bytes(data[:8]) != MAGIC:
                raise IndexCorrupt(f"{path}: not a mnemos index file (bad magic)")
            (head_len,) = struct.unpack("<Q", data[8:16])
            if head_len > len(data):
                raise IndexCorrupt(f"{path}: header length {head_len} exceeds file size")
            header = json.loads(bytes(data[16 : 16 + head_len]))
            start = 16 + head_len
            count = int(header["count"])
            ids_bytes = data[start : start + 8 * count]
            body = data[start + 8 * count :]
            if len(ids_bytes) != 8 * count:
                raise IndexCorrupt(f"{path}: truncated id table")
            if _sha256(ids_bytes) != header["ids_sha256"]:
                raise IndexCorrupt(f"{path}: id table checksum mismatch")
            if _sha256(body) != header["body_sha256"]:
                raise IndexCorrupt(f"{path}: index body checksum mismatch")
        except (KeyError, ValueError, struct.error) as exc:
            raise IndexCorrupt(f"{path}: unreadable header ({exc})") from exc
        if int(header["dim"]) != dim:
            raise IndexStale(f"{path}: dimension {header['dim']} != embedder dimension {dim}")
        if owner and header.get("owner") != owner:
            raise IndexStale(f"{path}: built for another database (store id {header.get('owner')!r})")
        if fingerprint and header.get("fingerprint") != fingerprint:
            raise IndexStale(f"{path}: built with another embedder ({header.get('fingerprint')!r})")
        try:
            index = faiss.deserialize_index(np.frombuffer(body, dtype=np.uint8).copy())
        except RuntimeError as exc:
            raise IndexCorrupt(f"{path}: FAISS could not read the index ({exc})") from exc
        ids = np.frombuffer(ids_bytes, dtype=np.int64).copy()
        if index.ntotal != count:
            raise IndexCorrupt(f"{path}: index holds {index.ntotal} vectors, id table {count}")
        if len(ids) and np.any(ids[1:] <= ids[:-1]):
            raise IndexCorrupt(f"{path}: id table not strictly increasing")
        saved_config = IndexConfig.model_validate(header.get("config", {}))
        idx = cls(
            dim=dim,
            config=config or saved_config,
            owner=header.get("owner", ""),
            fingerprint=header.get("fingerprint", ""),
            index=index,
            ids=ids,
            trained_on=int(header.get("trained_on", 0)),
        )
        if config is not None and config.nprobe and idx.layout != "flat":
            idx.nprobe = config.nprobe
        return idx


def _check_batch(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != dim):
        raise ValueError(f"vectors must have shape (n, {dim}), got {vectors.shape}")
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(ids) and ids.min() < 0:
        raise ValueError("ids must be non-negative SQL primary keys")
    if len(vectors) and not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinity")
    return ids, vectors.reshape(len(ids), dim)


@contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
