"""Embeddings and FAISS vector indexes (no knowledge of SQL: memory builds on this, not the reverse)."""

from retrieval.embedder import Embedder, TextEncoder
from retrieval.index import IndexConfig, VectorIndex

__all__ = ["Embedder", "IndexConfig", "TextEncoder", "VectorIndex"]
