"""Loads `avc retrieve --embeddings-out DIR`'s files into FAISS and prints, for every video,
its K best audios as `query_id,rank,candidate_id` lines (the first three columns of avc's
ranking.csv), so a test can compare the two.

    python faiss_topk.py DIR K

The embeddings are unit length, so an exact inner-product index (IndexFlatIP) ranks by
cosine similarity, as avc does.
"""

import sys
from pathlib import Path

import faiss
import numpy as np


def main():
    folder, k = Path(sys.argv[1]), int(sys.argv[2])
    videos = np.load(folder / "video_embeddings.npy").astype("float32")
    audios = np.load(folder / "audio_embeddings.npy").astype("float32")
    video_ids = (folder / "video_ids.txt").read_text().split("\n")[:-1]
    audio_ids = (folder / "audio_ids.txt").read_text().split("\n")[:-1]
    index = faiss.IndexFlatIP(audios.shape[1])
    index.add(audios)
    _, found = index.search(videos, k)
    for q, row in enumerate(found):
        for rank, c in enumerate(row, start=1):
            print(f"{video_ids[q]},{rank},{audio_ids[c]}")


if __name__ == "__main__":
    main()
