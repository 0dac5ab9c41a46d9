"""Safe readers for the text symroof is given: YAML (cards, derivations, runs) and JSON (config.json).

Nothing read here is ever evaluated: YAML goes through PyYAML's safe loader, JSON through
``json``. A repeated key is refused (both formats would silently keep the last value).
Errors are ``CardError`` lines that name the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CardError


def read_yaml(path: Path, what: str = "a card") -> dict:
    """A YAML mapping read safely: parsed once (libyaml's safe loader where installed), with
    repeated keys refused (PyYAML would keep the last silently). Errors are ``CardError`` lines."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        parser = loader(path.read_text())
    except UnicodeDecodeError:
        raise CardError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CardError(f"{path}: cannot read: {err.strerror}") from None
    try:
        node = parser.get_single_node()
        repeated = _repeated_key(node)
        if repeated is not None:
            raise CardError(f"{path}: line {repeated.start_mark.line + 1}: key '{repeated.value}' is given twice")
        raw = parser.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise CardError(f"{path}:{line} is not valid YAML ({getattr(err, 'problem', err)})") from None
    finally:
        parser.dispose()
    if not isinstance(raw, dict):
        raise CardError(f"{path}: {what} must be a YAML mapping of keys to values")
    return raw


def _repeated_key(node):
    """The first mapping key given twice: PyYAML would silently keep the last value."""
    import yaml

    children = []
    if isinstance(node, yaml.MappingNode):
        keys = [key for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        seen: set = set()
        for key in keys:
            if key.value in seen:
                return key
            seen.add(key.value)
        children = [value for _, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    for child in children:
        found = _repeated_key(child)
        if found is not None:
            return found
    return None


def _unique_json_object(pairs: list, where: str) -> dict:
    """``json`` keeps the last of two equal keys; a config that says two things is refused."""
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise CardError(f"{where}: key '{key}' is given twice")
        result[key] = value
    return result


def read_json(path: Path) -> object:
    """A JSON file parsed with repeated keys refused; errors are one ``CardError`` line."""
    try:
        return json.loads(path.read_text(), object_pairs_hook=lambda pairs: _unique_json_object(pairs, str(path)))
    except UnicodeDecodeError:
        raise CardError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CardError(f"{path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise CardError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
