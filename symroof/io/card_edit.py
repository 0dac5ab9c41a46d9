"""Put one top-level block into a YAML card's text, keeping every other line and comment.

``symroof calibrate --write`` stores its block this way: re-dumping the card would drop the
comments that cite each number. The edit is checked by reading the result back; a layout the
line edit cannot handle (a card written as one flow mapping) is refused, the card untouched.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import CardError
from .readers import read_yaml

# a top-level key starts its line: a plain or quoted name, then a colon
_TOP_KEY = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|([^\s#'"?:\-{}\[\]][^:#]*?))\s*:(?:\s|$)""")


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
# words a YAML 1.1 reader takes as booleans or null (the card reader refuses the booleans, reads null)
_WORDS = {"y", "yes", "n", "no", "on", "off", "true", "false", "null"}


def yaml_text(text: str) -> str:
    """``text`` as a written card holds it: plain where a YAML reader reads it back as that text,
    else double-quoted (JSON's escapes are YAML's): a run named ``yes`` or ``1e3`` stays a name."""
    if _PLAIN.fullmatch(text) and text.lower() not in _WORDS:
        return text
    return json.dumps(text)


def _key(line: str) -> str | None:
    match = _TOP_KEY.match(line)
    return None if match is None else next(g for g in match.groups() if g is not None)


def _lead_in(lines: list[str], at: int) -> int:
    """Where the comments and blank lines just above ``lines[at]`` begin: they belong to that key."""
    while at > 0 and (not lines[at - 1].strip() or lines[at - 1].startswith("#")):
        at -= 1
    return at


def put_block(path: Path, key: str, block: str, before: str, what: str) -> None:
    """Write ``block`` (``key:`` and its indented lines) into the card at ``path``: where ``key``
    was, else above the top-level ``before`` key, else at the end. ``what`` (the command) names
    who asked, in the refusal."""
    import shutil

    import yaml

    old = read_yaml(path)
    if key == "calibration" and "calibrated_as" in old:      # catalog.load_chip would refuse the result
        raise CardError(f"{path}: {what} would write a calibration block beside 'calibrated_as: "
                        f"{old['calibrated_as']}'; calibrate that card, or drop the key to fit this one")
    lines = path.read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if _key(line) is not None]
    at = next((i for i in starts if _key(lines[i]) == key), None)
    if at is not None:       # drop the old block: up to the next key, less that key's own comments
        end = next((i for i in starts if i > at), len(lines))
        end = max(_lead_in(lines, end), at + 1) if end < len(lines) else end
        del lines[at:end]
    else:
        at = next((_lead_in(lines, i) for i in starts if _key(lines[i]) == before), None)
        if at is None:
            at = len(lines) - 1 if lines and not lines[-1] else len(lines)
    lines[at:at] = block.rstrip("\n").split("\n")
    text = "\n".join(lines)
    path = path.resolve()           # a card reached by a link is written where the link points
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text if text.endswith("\n") else text + "\n")
    except OSError as err:
        raise CardError(f"{path}: {what} cannot write {temporary.name} beside the card: {err.strerror}; "
                        f"the card is unchanged") from None
    try:
        new = read_yaml(temporary)
        same = ({k: v for k, v in new.items() if k != key} == {k: v for k, v in old.items() if k != key}
                and new.get(key) == yaml.safe_load(block)[key])
    except CardError:
        same = False
    if not same:
        temporary.unlink()
        raise CardError(f"{path}: {what} cannot place the '{key}' block in this layout; it needs a card in "
                        f"block style (each top-level key at the start of its own line, as the shipped cards); "
                        f"the card is unchanged")
    shutil.copymode(path, temporary)
    os.replace(temporary, path)
