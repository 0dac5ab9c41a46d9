"""Safe readers for the YAML symroof is given (cards, derivations, runs); JSON (config.json) is
``json_reader``'s.

Nothing read here is ever evaluated: YAML goes through PyYAML's safe loader. A repeated key is
refused (PyYAML would silently keep the last value). Errors are ``CardError`` lines that name the file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import CardError

# A card is a few hundred nodes; a document whose aliases expand past this is an alias bomb.
MAX_EXPANDED_NODES = 100_000
MAX_BYTES = 16 * 2**20     # the shipped runs file is 0.1 MB; a card or config.json a few kB
MAX_DEPTH = 100           # nesting deeper than this is no card or config symroof reads


def read_yaml(path: Path, what: str = "a card") -> dict:
    """A YAML mapping read safely: parsed once (libyaml's safe loader where installed), with
    repeated keys refused (PyYAML would keep the last silently). Errors are ``CardError`` lines."""
    import yaml

    try:
        text = _text(path)
        parser = _loader()(text)
    except UnicodeDecodeError:
        raise CardError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CardError(f"{path}: cannot read: {err.strerror}") from None
    try:
        if len(text) > 2**16 and 1 + sum(map(text.count, ",:[{-\n?")) > MAX_EXPANDED_NODES:
            _few_nodes(text, path)         # each node but the first follows one of those characters
        node = parser.get_single_node()
        _check(node, path)
        raw = _construct(parser, node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise CardError(f"{path}:{line} is not valid YAML ({getattr(err, 'problem', err)})") from None
    except RecursionError:
        raise CardError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels)") from None
    except CardError:
        raise
    except ValueError as err:          # e.g. an integer of more than 4300 digits
        raise CardError(f"{path}: a value cannot be read ({_first(err)})") from None
    finally:
        parser.dispose()
    if not isinstance(raw, dict):
        raise CardError(f"{path}: {what} must be a YAML mapping of keys to values")
    return raw


def _few_nodes(text: str, path) -> None:
    """Refuse a document of more than ``MAX_EXPANDED_NODES`` nodes (an alias counted once: ``_check``
    counts what aliases expand to) from libyaml's events, stopping at the first node past it, before
    PyYAML builds them all: a 10 MB list of 5 million numbers took 22 s and 2.1 GB to build and refuse.
    Asked only of a document that may hold that many by its characters (the shipped files hold far fewer)."""
    import yaml

    events = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    nodes = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)
    try:
        seen = 0
        while events.check_event():
            seen += isinstance(events.get_event(), nodes)
            if seen > MAX_EXPANDED_NODES:
                raise CardError(f"{path}: it expands to more than {MAX_EXPANDED_NODES} values; refused (an alias "
                                f"bomb, or a document far larger than any card or runs file)")
    finally:
        events.dispose()


class _Unusual(Exception):
    """A node ``_construct`` leaves to PyYAML (a tag beyond the plain ones, a merge key, a key that is a
    mapping or a list)."""


_PLAIN = "tag:yaml.org,2002:"
_MERGED = (_PLAIN + "merge", _PLAIN + "value")


def _construct(parser, node):
    """``parser.construct_document(node)``, the same values, for a document of mappings, lists and plain
    scalars (what a card or a runs file is): strings as they stand, the other scalars by PyYAML's own
    constructor for their tag, merge keys by PyYAML's own flattening, a node met twice (an alias)
    built once, as PyYAML shares it. Anything else is PyYAML's to construct (and to refuse) from the
    start. A third of reading the runs file
    was PyYAML's generic machinery (a generator per mapping, its bookkeeping per node)."""
    import yaml

    scalar, mapping, sequence = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
    rules = {tag: parser.yaml_constructors[_PLAIN + tag] for tag in ("int", "float", "bool", "null")}
    built: dict = {}
    text = _PLAIN + "str"        # a string is its text: read where its parent is (most leaves), no call

    def build(n):
        kind = type(n)
        if kind is scalar:
            tag = n.tag
            if tag == _PLAIN + "str":
                return n.value
            if tag == _PLAIN + "int" and n.value.isdigit() and n.value.isascii() and n.value[0] != "0":
                return int(n.value)     # PyYAML's rule's answer for plain decimal digits, without its steps
            rule = rules.get(tag[len(_PLAIN):]) if tag.startswith(_PLAIN) else None
            if rule is None:
                raise _Unusual
            return rule(parser, n)
        got = built.get(id(n))
        if got is not None:
            return got
        if kind is mapping and n.tag == _PLAIN + "map":
            if any(key.tag in _MERGED for key, _ in n.value):
                parser.flatten_mapping(n)       # PyYAML's own rule for '<<' (and '=') keys, as it applies it
            out = built[id(n)] = {}
            for key, value in n.value:
                if type(key) is not scalar or key.tag == _PLAIN + "merge":
                    raise _Unusual
                key = key.value if key.tag == text else build(key)      # the key first, as PyYAML builds them
                out[key] = value.value if type(value) is scalar and value.tag == text else build(value)
            return out
        if kind is sequence and n.tag == _PLAIN + "seq":
            out = built[id(n)] = []
            out.extend([item.value if type(item) is scalar and item.tag == text else build(item) for item in n.value])
            return out
        raise _Unusual
    try:
        return build(node)
    except _Unusual:
        return parser.construct_document(node)


_TAGS_KEPT = 1 << 14     # distinct scalar texts remembered; the shipped files have a few thousand


@lru_cache(maxsize=1)
def _loader():
    """libyaml's safe loader (PyYAML's own where libyaml is missing) with each scalar's implicit tag
    looked up once per distinct text and style: PyYAML tries its regular expressions on every
    scalar, a third of reading the runs file, whose few hundred distinct texts repeat thousands
    of times. Safe to remember: without path resolvers (none are registered) the tag depends on
    the text and the style alone."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        _tags: dict = {}

        def resolve(self, kind, value, implicit):
            if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
                return super().resolve(kind, value, implicit)
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._tags) < _TAGS_KEPT:     # a document of a million distinct texts is not kept
                    self._tags[key] = tag
            return tag

    return Loader


def _text(path: Path) -> str:
    """The file's text, from a regular file of at most ``MAX_BYTES`` (not a device or a pipe that
    never ends). OSError and UnicodeDecodeError are the callers' to report."""
    if not path.is_file():
        raise CardError(f"{path}: not a regular file" if path.exists() else f"{path}: cannot read: No such file or directory")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise CardError(f"{path}: {size} bytes; a card, config or runs file is at most {MAX_BYTES} bytes")
    return path.read_text()


def _first(err: Exception) -> str:
    return str(err).split(";")[0].splitlines()[0]


def _check(node, path) -> None:
    """One walk over the composed document, before anything is constructed: refuse alias bombs
    and deep nesting (the expanded size of each node is counted once, bottom-up: aliases share
    nodes) and the first mapping key given twice in document order (PyYAML would silently keep
    the last value)."""
    import yaml

    if node is None:
        return
    scalar = yaml.ScalarNode
    most = _max_digits()
    try:
        return _plainly_fine(node, most)
    except (_Doubt, RecursionError):
        pass                 # walked again below, which finds what it is and where, in document order
    size: dict = {}
    stack = [(node, 0, False)]
    while stack:
        n, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise CardError(f"{path}: nested too deeply (more than {MAX_DEPTH} levels)")
        if id(n) in size:
            continue
        if type(n) is scalar:       # a leaf, most of the walk: checked where its parent was
            size[id(n)] = 1
            continue
        if type(n) is yaml.MappingNode:
            kids = [k for pair in n.value for k in pair]
            if not done:
                keys: set = set()
                for key, value in n.value:
                    if type(key) is scalar:
                        if key.value in keys:
                            raise CardError(f"{path}: line {key.start_mark.line + 1}: key '{key.value}' "
                                            f"is given twice")
                        keys.add(key.value)
                        if key.tag.endswith(_CHECKED_TAGS) and _refused(key, most):    # the only scalars
                            _check_scalar(key, path, "a key")                             # it refuses
                        if type(value) is scalar and value.tag.endswith(_CHECKED_TAGS) and _refused(value, most):
                            _check_scalar(value, path, f"key '{key.value}'")
        else:
            kids = n.value if type(n) is yaml.SequenceNode else ()
            for item in kids:
                if type(item) is scalar and item.tag.endswith(_CHECKED_TAGS) and _refused(item, most):
                    _check_scalar(item, path, "a list item")
        if done or not kids:
            size[id(n)] = 1 + sum(size.get(id(k), 1) for k in kids)
            if size[id(n)] > MAX_EXPANDED_NODES:
                raise CardError(f"{path}: it expands to more than {MAX_EXPANDED_NODES} values; refused "
                                f"(an alias bomb, or a document far larger than any card or runs file)")
            continue
        stack.append((n, depth, True))
        stack.extend((k, depth + 1, False) for k in reversed(kids) if id(k) not in size)


class _Doubt(Exception):
    """Something ``_plainly_fine`` leaves to ``_check``'s full walk."""


def _plainly_fine(node, most: int) -> None:
    """Return where ``_check`` finds nothing (its answer for the shipped files), in one recursive pass:
    each scalar read where its parent is, each container's expanded size and height worked out once.
    Anything else raises ``_Doubt``: a key given twice, a scalar ``_check_scalar`` refuses, a path
    deeper than ``MAX_DEPTH``, a size past ``MAX_EXPANDED_NODES``, a document that contains itself."""
    import yaml

    scalar, mapping, sequence = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
    done: dict = {}        # id -> (expanded size, height); None while its walk is open

    def walk(n, depth: int) -> tuple:
        got = done.get(id(n), False)
        if got is None or depth > MAX_DEPTH or (got and depth + got[1] > MAX_DEPTH):
            raise _Doubt
        if got:
            return got
        done[id(n)] = None
        kind, keys = type(n), set()
        kids = [k for pair in n.value for k in pair] if kind is mapping else n.value if kind is sequence else None
        if kids is None:
            raise _Doubt
        size, height = 1, 0
        for i, kid in enumerate(kids):
            if type(kid) is scalar:
                if kind is mapping and not i % 2:       # a key
                    if kid.value in keys:
                        raise _Doubt
                    keys.add(kid.value)
                if kid.tag.endswith(_CHECKED_TAGS) and _refused(kid, most):
                    raise _Doubt
                size, height = size + 1, height or 1
            else:
                kid_size, kid_height = walk(kid, depth + 1)
                size, height = size + kid_size, max(height, kid_height + 1)
        if size > MAX_EXPANDED_NODES or depth + height > MAX_DEPTH:
            raise _Doubt
        done[id(n)] = (size, height)
        return size, height
    if type(node) is not scalar:
        walk(node, 0)


_WORD_BOOLEANS = ("yes", "no", "on", "off")
_CHECKED_TAGS = (":int", ":bool", ":float")


def _yaml11_only(node) -> bool:
    """A number PyYAML (YAML 1.1) reads and YAML 1.2 reads otherwise or as text: base 60 (``1:20`` is
    80), digits split by ``_`` (``3_2`` is 32), a leading zero (``040`` is octal 32, 40 in YAML 1.2),
    binary (``0b11``)."""
    text = node.value.lstrip("+-")
    if node.tag.endswith(":float"):
        return ":" in text or "_" in text
    if text.isdigit() and text.isascii():
        return text[0] == "0" and text.strip("0") != ""         # 00 is 0 in both
    return not text.lower().startswith("0x")         # hex is the same number in both


def _check_scalar(node, path, what: str) -> None:
    """An integer longer than Python converts (``sys.get_int_max_str_digits``), refused with its line
    and key before construction fails on it without naming either; yes, no, on or off, which
    PyYAML (YAML 1.1) reads as a boolean and YAML 1.2 as text, and a number only YAML 1.1 reads as
    written (``_yaml11_only``), refused rather than guessed."""
    import yaml

    if type(node) is not yaml.ScalarNode:
        return
    most = _max_digits()
    if most and node.tag.endswith(":int") and len(node.value) > most:
        raise CardError(f"{path}: line {node.start_mark.line + 1}: {what} is an integer of {len(node.value)} "
                        f"digits; at most {most}")
    if not node.tag.endswith(":bool") and _yaml11_only(node):
        from .cards import shown_text

        raise CardError(f"{path}: line {node.start_mark.line + 1}: {what} is {shown_text(node.value)}, a number "
                        f"only YAML 1.1 reads so (base 60, '_' between digits, a leading 0, or 0b); allowed: "
                        f"decimal digits (e.g. 80, 1.5e14), or in quotes for the text")
    if node.tag.endswith(":bool") and node.value.lower() in _WORD_BOOLEANS:
        raise CardError(f"{path}: line {node.start_mark.line + 1}: {what} is {node.value}, which YAML 1.1 reads "
                        f"as {'true' if node.value.lower() in ('yes', 'on') else 'false'} and YAML 1.2 as text; "
                        f"allowed: true or false, or '{node.value}' in quotes for the text")


def _refused(node, most: int) -> bool:
    """Whether ``_check_scalar`` refuses this int- or bool-tagged scalar (``most``: ``_max_digits()``),
    asked first: a runs file has thousands of integers, each a call of it otherwise."""
    if node.tag.endswith(":int"):
        text = node.value
        if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):    # the common case
            return bool(most) and len(text) > most
        return (bool(most) and len(text) > most) or _yaml11_only(node)
    if node.tag.endswith(":float"):
        return _yaml11_only(node)
    return node.tag.endswith(":bool") and node.value.lower() in _WORD_BOOLEANS


def _max_digits() -> int:
    """The longest integer Python converts from text (0: no limit, before Python 3.11)."""
    import sys

    return sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
