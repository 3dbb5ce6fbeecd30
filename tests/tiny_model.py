"""A tiny local GPT-2 (2 layers) and its tokenizer, built offline and deterministically.

Tests and benches import :func:`build_tiny_gpt2` to get a real Hugging Face checkpoint directory
(``model.safetensors``, ``config.json``, ``generation_config.json``, tokenizer files with a chat
template) without any hub download. The weights come from a fixed config and a fixed seed, the
tokenizer from a fixed word list, so two builds are byte-identical (the tests check it).

    from tiny_model import build_tiny_gpt2   # tests/ is on sys.path under pytest
    path = build_tiny_gpt2(tmp_path / "tiny-gpt2")
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED = 1234
EOS = "<|endoftext|>"
SPECIALS = ("[UNK]", "[PAD]", EOS, "<|im_start|>", "<|im_end|>")
CORPUS = """
the capital of france is paris . the capital of italy is rome . the capital of spain is madrid .
a refund takes five business days . cards are replaced within a week . you are a helpful assistant .
be brief . say hello . hello world . what is the capital of germany ? berlin is the capital .
system user assistant : , ! ? the a an is are was were of to in on at by for with and or not
one two three four five six seven eight nine ten red green blue cat dog bird tree house river
"""
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|> {{ message['role'] }} : {{ message['content'] }}"
    " <|im_end|> {% endfor %}{% if add_generation_prompt %}<|im_start|> assistant : {% endif %}"
)
MAX_NEW_TOKENS = 12


def vocabulary() -> dict[str, int]:
    """Special tokens first, then the corpus words in sorted order: a fixed id for each."""
    words = sorted(set(CORPUS.split()))
    return {token: index for index, token in enumerate([*SPECIALS, *words])}


def build_tokenizer() -> object:
    """A word-level ``PreTrainedTokenizerFast`` over :func:`vocabulary`, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab=vocabulary(), unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with single spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        eos_token=EOS,
        bos_token=EOS,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=128,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_gpt2(directory: str | os.PathLike[str], *, seed: int = SEED) -> Path:
    """Build the tiny GPT-2 and its tokenizer into ``directory`` (created); return its path.

    2 layers, 2 heads, 32-dim embeddings, 128 positions; weights drawn from ``seed``; greedy
    decoding with at most 12 new tokens is the saved generation config. Saved with
    ``save_pretrained`` as safetensors. Nothing is downloaded.
    """
    import torch
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    vocab = vocabulary()
    eos_id = vocab[EOS]
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        # Wider than the default 0.02 so that greedy output depends visibly on the prompt.
        initializer_range=0.5,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=vocab["[PAD]"],
    )
    # The seed fixes the random initialisation; the generator is local so that building a
    # model never disturbs the caller's global RNG state.
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config = GenerationConfig(
        do_sample=False,
        max_new_tokens=MAX_NEW_TOKENS,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=vocab["[PAD]"],
    )
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)  # type: ignore[attr-defined]
    return target
