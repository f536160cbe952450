"""A headline's meaning as one vector, and a linear topic classifier over it.

The topic textcat (topics.py) knows the words of our 16,000 labelled headlines and nothing
else: "Isner breaks all-time aces record" is sports only if "Isner" or "aces" were seen
with that label. WordLlama's token vectors (the `wordllama` package, which ships them: 32,000
sub-word tokens x 256 dimensions, distilled from a large language model's embeddings) carry
what a language model learned about names and words beyond our data. A headline's vector is
the mean of its tokens' vectors, unit length; 15 microseconds a headline.

`EmbeddingHead` is multinomial logistic regression from that vector to the ten topics,
trained by train_topics.py (with scikit-learn) and saved as `embedding_head.npz` beside the
textcat. The component multiplies its probabilities into the textcat's (a product of
experts, `embedding_weight` the exponent) before the cue rules are added.

The package's own loader looks for its tokenizer in the wrong folder and then downloads it,
which cannot work here; the files ship in the wheel, so they are read from there.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from indexer.record import TOPICS

HEAD_FILE = "embedding_head.npz"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


@functools.cache
def embedder():
    """WordLlama's 256-dimension model, loaded once per process from the installed package."""
    # Tokenizing is per batch on one thread: our worker processes are forked from this one,
    # and the tokenizer's thread pool does not survive a fork.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root.joinpath(*_TOKENIZER)))
    with safe_open(root.joinpath(*_WEIGHTS), framework="np", device="cpu") as weights:
        table = weights.get_tensor("embedding.weight")
    return WordLlamaInference(table, tokenizer)


def embed(texts: list[str]) -> np.ndarray:
    """One unit-length row per text; zeros for a text without tokens."""
    vectors = embedder().embed(texts, batch_size=256)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class EmbeddingHead:
    """Topic log-probabilities from headline vectors: softmax(x @ weights + bias)."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray):
        if weights.shape[1] != len(TOPICS) or bias.shape != (len(TOPICS),):
            raise ValueError(f"embedding head of shape {weights.shape} is not for the topics")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)

    @classmethod
    def read(cls, directory: Path) -> EmbeddingHead | None:
        path = directory / HEAD_FILE
        if not path.exists():
            return None
        with np.load(path) as arrays:
            return cls(arrays["weights"], arrays["bias"])

    def write(self, directory: Path) -> None:
        np.savez(directory / HEAD_FILE, weights=self.weights, bias=self.bias)

    def digest_bytes(self) -> bytes:
        return self.weights.tobytes() + self.bias.tobytes()

    def log_probabilities(self, texts: list[str]) -> np.ndarray:
        """One row per text, columns in TOPICS order; uniform (no opinion) for a text
        without tokens."""
        vectors = embed(texts)
        logits = vectors @ self.weights + self.bias
        logits[~vectors.any(axis=1)] = 0.0
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
