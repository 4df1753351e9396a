"""Documents, extraction, chunking, embeddings and hybrid retrieval."""
