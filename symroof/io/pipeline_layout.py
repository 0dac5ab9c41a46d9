"""Megatron-LM's pipeline layout string (``--pipeline-model-parallel-layout``) read into its chunks.

The grammar, as NVIDIA/Megatron-LM@d98e8a6 docs/user-guide/features/pipeline_parallel_layout.md
states it: chunks (a pipeline stage's model chunk, one per stage and virtual stage) are split by
``|``; ``E`` is the embedding, ``t`` a decoder layer, ``m`` a multi-token-prediction module and ``L``
the loss (final norm, head and loss); ``x*n`` repeats one character and ``(...)*n`` a group, which
holds no parentheses itself; commas are for reading only; a chunk may be empty. So
``"Et*3|(tt|)*29,m|L"`` is ``Ettt``, 29 chunks ``tt``, ``m`` and ``L``.

The text is never evaluated: it is read character by character, and its expanded length is
worked out (and held to ``limit``) before any repetition is written out, so ``(t|)*10**12`` is
refused at once.
"""

from __future__ import annotations

from ..errors import CardError

SYMBOLS = "EtmL"        # embedding, decoder layer, MTP module, loss
_MAX_DIGITS = 6                        # a repeat count above 999,999 exceeds any model's layers


def parse(text, where: str, limit: int) -> tuple[str, ...]:
    """The chunks of layout ``text`` in Megatron's order (chunk j on pipeline rank j mod p, virtual
    stage j // p), each a string over ``E t m L``; ``limit``: the most characters the expanded layout
    may hold (a model's layers and ends, and a separator a chunk)."""
    key = f"{where}: key 'pipeline_layout'"
    if not isinstance(text, str) or not text.strip():
        raise CardError(f"{key} must be a Megatron-LM layout string such as \"Et|(tt|)*30mL\"")
    if len(text) > limit:
        raise CardError(f"{key} is {len(text)} characters; a layout of this model holds at most {limit}")
    text = text.replace(",", "")          # as Megatron: commas only (a space is refused there)
    pieces, size, i = [], 0, 0
    while i < len(text):
        if text[i] == "(":           # a group: its body read as the top level is, then repeated
            end = text.find(")", i + 1)
            if end < 0 or "(" in text[i + 1:end] or end == i + 1:
                raise CardError(f"{key}: a '(' opens a group that is empty, nested or never closed")
            unit, i = _flat(text[i + 1:end], key, limit), end + 1
            if not text.startswith("*", i):
                raise CardError(f"{key}: a group must be repeated, as (tt|)*30")
        else:
            unit, i = _flat(text[i], key, limit), i + 1
        count, i = _count(text, i, key)
        size += len(unit) * count
        if size > limit:
            raise CardError(f"{key} expands to more than {limit} characters, more than this model's layers, "
                            f"ends and chunks")
        pieces.append(unit * count)
    return tuple("".join(pieces).split("|"))


def _flat(body: str, key: str, limit: int) -> str:
    """A group's body (or one character) with its ``x*n`` written out, held to ``limit``."""
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char not in SYMBOLS + "|":
            raise CardError(f"{key}: unknown character {char!r}; allowed: E (embedding), t (layer), "
                            f"m (MTP module), L (loss), | (between chunks), (...)*n and x*n")
        count, i = _count(body, i + 1, key)
        if len(out) + count > limit:
            raise CardError(f"{key} expands to more than {limit} characters, more than this model's layers, "
                            f"ends and chunks")
        out.extend(char * count)
    return "".join(out)


def _count(text: str, i: int, key: str) -> tuple[int, int]:
    """The repeat count ``*n`` at ``text[i]`` (1 where there is none) and the index after it."""
    if not text.startswith("*", i):
        return 1, i
    j = i + 1
    while j < len(text) and text[j].isdecimal():     # Megatron's \d; isdigit takes '²', which int() refuses
        j += 1
    if j == i + 1 or j - i - 1 > _MAX_DIGITS:
        raise CardError(f"{key}: '*' must be followed by a repeat count of 1 to {_MAX_DIGITS} digits")
    return int(text[i + 1:j]), j
