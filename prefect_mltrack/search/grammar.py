"""MLflow's search filter and order_by grammar, parsed into plain values (no SQL here).

A filter is clauses joined by ``AND``; each clause is ``<identifier> <comparator> <value>``:

    >>> parse_filter("metrics.acc > 0.9 AND tags.`mlflow.runName` LIKE 'cv-%'")  # doctest: +NORMALIZE_WHITESPACE
    [Comparison(kind='metric', key='acc', comparator='>', value=0.9),
     Comparison(kind='tag', key='mlflow.runName', comparator='LIKE', value='cv-%')]

A regex tokenizer records each token's offset so errors can point at it; a per-entity table says
which identifiers and comparators are allowed, so one small parser serves runs, experiments and
registry searches alike.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final, Literal, NoReturn, cast

from prefect_mltrack.exceptions import InvalidParameterError, MalformedFilterError

EntityType = Literal["run", "experiment", "registered_model", "model_version", "logged_model"]
Kind = Literal["metric", "param", "tag", "attribute", "dataset"]
Value = str | float | int | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One filter clause: ``metrics.acc > 0.9`` is ``Comparison("metric", "acc", ">", 0.9)``."""

    kind: Kind
    key: str
    comparator: str
    value: Value


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order_by item: ``metrics.acc DESC`` is ``OrderKey("metric", "acc", ascending=False)``."""

    kind: Kind
    key: str
    ascending: bool


# --- What each entity lets a user search and sort on ---------------------------------------------

_NUMERIC: Final = ("=", "!=", "<", "<=", ">", ">=")
_STRING: Final = ("=", "!=", "LIKE", "ILIKE")
_LIST: Final = (*_STRING, "IN", "NOT IN")
_TAG: Final = (*_STRING, "IS NULL", "IS NOT NULL")
_ID: Final = ("=", "!=", "IN", "NOT IN")
_ALL_OPS: Final = frozenset((*_NUMERIC, *_LIST, *_TAG))
_ANY: Final = "*"  # metrics, params and tags have user-chosen keys

_Rule = tuple[tuple[str, ...], bool]  # (allowed comparators, whether the value is a number)


def _same(keys: tuple[str, ...], ops: tuple[str, ...], numeric: bool = False) -> dict[str, _Rule]:
    return dict.fromkeys(keys, (ops, numeric))


_TAGS: Final[dict[str, _Rule]] = {_ANY: (_TAG, False)}
_FILTER_RULES: Final[dict[str, dict[Kind, dict[str, _Rule]]]] = {
    "run": {
        "metric": {_ANY: (_NUMERIC, True)},
        "param": _TAGS,
        "tag": _TAGS,
        "attribute": {
            "run_id": (_LIST, False),  # MLflow: only run_id takes IN
            **_same(("run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"), _STRING),
            **_same(("start_time", "end_time"), _NUMERIC, numeric=True),
        },
        "dataset": _same(("name", "digest", "context"), _LIST),
    },
    "experiment": {
        "attribute": {
            "name": (_STRING, False),
            "experiment_id": (_ID, False),
            **_same(("creation_time", "last_update_time"), _NUMERIC, numeric=True),
        },
        "tag": _TAGS,
    },
    "registered_model": {"attribute": {"name": (_LIST, False)}, "tag": _TAGS},
    "model_version": {
        "attribute": {
            **_same(("name", "run_id"), _LIST),
            "source_path": (_STRING, False),
            **_same(("version_number", "creation_timestamp"), _NUMERIC, numeric=True),
            "last_updated_timestamp": (_NUMERIC, True),
        },
        "tag": _TAGS,
    },
    # MLflow 3's logged models; experiment_id is the search scope (experiment_ids), not a filter.
    "logged_model": {
        "attribute": {
            **_same(("name", "model_id", "model_type", "status", "source_run_id"), _LIST),
            **_same(("creation_timestamp", "last_updated_timestamp"), _NUMERIC, numeric=True),
        },
        "metric": {_ANY: (_NUMERIC, True)},
        "param": _TAGS,
        "tag": _TAGS,
    },
}

# None: any key of that kind sorts.
_ORDER_RULES: Final[dict[str, dict[Kind, frozenset[str] | None]]] = {
    "run": {
        "attribute": frozenset(
            [
                "start_time",
                "end_time",
                "run_name",
                "run_id",
                "status",
                "user_id",
                "artifact_uri",
                "experiment_id",
            ]
        ),
        "metric": None,
        "param": None,
        "tag": None,
    },
    "experiment": {"attribute": frozenset(["name", "experiment_id", "creation_time", "last_update_time"])},
    "registered_model": {"attribute": frozenset(["name", "creation_timestamp", "last_updated_timestamp"])},
    "model_version": {
        "attribute": frozenset(["name", "version_number", "creation_timestamp", "last_updated_timestamp"])
    },
    "logged_model": {
        "attribute": frozenset(
            [
                "name",
                "model_id",
                "model_type",
                "status",
                "source_run_id",
                "experiment_id",
                "creation_timestamp",
                "last_updated_timestamp",
            ]
        ),
        "metric": None,
    },
}

# Other spellings MLflow accepts for an attribute, looked up after lower-casing.
_ATTRIBUTE_ALIASES: Final[dict[str, dict[str, str]]] = {
    "run": {"created": "start_time", "run name": "run_name"},
    "registered_model": {"timestamp": "last_updated_timestamp"},
    "logged_model": {
        "creation_time": "creation_timestamp",
        "creation_timestamp_ms": "creation_timestamp",
        "last_updated_timestamp_ms": "last_updated_timestamp",
        "run_id": "source_run_id",
    },
}

_KINDS: Final[dict[Kind, tuple[str, ...]]] = {  # canonical kind -> type names, plural (shown) first
    "metric": ("metrics", "metric"),
    "param": ("params", "param", "parameter", "parameters"),
    "tag": ("tags", "tag"),
    "attribute": ("attributes", "attribute", "attr", "run"),
    "dataset": ("datasets", "dataset"),
}
_TYPE_ALIASES: Final[dict[str, Kind]] = {name: kind for kind, names in _KINDS.items() for name in names}

# --- Tokenizer -----------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"""(?P<ws>\s+)
    |(?P<string>'[^']*'|"[^"]*")
    |(?P<backtick>`[^`]*`)
    |(?P<unterminated>['"`])
    |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
    |(?P<word>[A-Za-z_][\w\-./:]*)
    |(?P<op>[=!<>~]+)
    |(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)
    |(?P<other>[^\s'"`(),=!<>~]+)""",  # anything else, so it can be reported whole
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset(("AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"))
_BAD_KEY_CHAR: Final = re.compile(r"[^\w\-./: ]")  # MLflow's key alphabet (space only when quoted)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # a _TOKEN_RE group name, or "end" after the last token
    text: str
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def _show(text: str) -> str:
    """Quote text for a message with the quote it does not contain."""
    return f'"{text}"' if "'" in text else f"'{text}'"


def _name(kind: Kind, key: str) -> str:
    return f"{_KINDS[kind][0]}.{key}"


_Names = Mapping[Kind, Collection[str] | None]  # per kind, allowed keys (None: any)


class _Parser:
    """Recursive descent over one filter or one order_by item; fails with a pointed message."""

    def __init__(self, text: str, entity: str, noun: str) -> None:
        if entity not in _FILTER_RULES:
            allowed = ", ".join(_FILTER_RULES)
            raise InvalidParameterError(f"Unknown search entity {entity!r}; expected one of {allowed}")
        self.text, self.entity, self.noun = text, entity, noun
        self.tokens = self._tokenize()
        self.index = 0

    def fail(self, tok: _Token, expected: str, problem: str | None = None) -> NoReturn:
        if problem is None:
            problem = f"unexpected {_show(tok.text)}" if tok.text else f"unexpected end of {self.noun}"
        raise MalformedFilterError(
            f'Invalid {self.noun} "{self.text}": {problem} at position {tok.pos}; expected {expected}',
            position=tok.pos,
        )

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        for match in _TOKEN_RE.finditer(self.text):  # the groups cover every character
            tok = _Token(cast(str, match.lastgroup), match.group(), match.start())
            if tok.kind == "unterminated":
                unclosed = _show(self.text[tok.pos :])
                self.fail(tok, f"a closing {tok.text}", f"unterminated string {unclosed}")
            if tok.kind != "ws":
                tokens.append(tok)
        return [*tokens, _Token("end", "", len(self.text))]

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        tok = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)  # "end" repeats, never overruns
        return tok

    def expect_word(self, word: str, expected: str) -> None:
        if not (tok := self.next()).is_word(word):
            self.fail(tok, expected)

    # -- identifiers: type.key, type.`quoted key`, or a bare attribute

    def identifier(self, names: _Names) -> tuple[Kind, str]:
        tok = self.next()
        if tok.kind == "backtick" or tok.text.startswith('"'):  # quoted attribute: `Run name`
            return self.check_name(names, "attribute", tok.text[1:-1], tok)
        if tok.kind != "word" or tok.text.upper() in _KEYWORDS:  # 'x' = status, AND AND, NOT ...
            shapes = (f"{_KINDS[k][0]}.<key>" for k in names)
            self.fail(tok, f"an identifier such as {', '.join(shapes)} or an attribute name")
        type_name, dot, key = tok.text.partition(".")
        if not dot:
            if tok.text.lower() in _TYPE_ALIASES:  # `metrics = 1`: the key was forgotten
                self.fail(tok, f"'{tok.text}.<key>'", f"missing key after {_show(tok.text)}")
            return self.check_name(names, "attribute", tok.text, tok)
        kind = _TYPE_ALIASES.get(type_name.lower())
        if kind is None or kind not in names:
            types = ", ".join(_KINDS[k][0] for k in names)
            problem = f"unknown identifier type {_show(type_name)}"
            self.fail(_Token("word", type_name, tok.pos), f"one of {types}", problem)
        key_tok = _Token("word", key, tok.pos + len(type_name) + 1)
        if not key:  # a quoted key must touch the dot: tags.`mlflow.runName`
            key_tok = self.peek()
            touching = key_tok.pos == tok.end
            if key_tok.kind not in ("string", "backtick") or not touching:
                where = key_tok if touching else _Token("end", "", tok.end)
                self.fail(where, "a key, e.g. `my key`", f"missing key after {_show(tok.text)}")
            self.next()
            key = key_tok.text[1:-1]
            if not key or _BAD_KEY_CHAR.search(key):
                self.fail(key_tok, "a key of letters, digits, _ - . / : and spaces")
        if kind in ("attribute", "dataset"):
            return self.check_name(names, kind, key, key_tok)
        return kind, key

    def check_name(self, names: _Names, kind: Kind, spelled: str, tok: _Token) -> tuple[Kind, str]:
        """Canonicalise an attribute or dataset field and check the entity knows it."""
        key = spelled.lower()  # decision: attribute names are case-insensitive, like type names
        if kind == "attribute":
            key = _ATTRIBUTE_ALIASES.get(self.entity, {}).get(key, key)
        allowed = names.get(kind) or ()
        if key not in allowed:
            what = "attribute" if kind == "attribute" else "dataset field"
            valid = ", ".join(sorted(allowed))
            self.fail(tok, f"one of {valid}", f"unknown {what} {_show(spelled)}")
        return kind, key

    # -- filter clauses

    def comparator(self) -> tuple[str, _Token]:
        """Read a comparator; multi-word ones (NOT IN, IS [NOT] NULL) come back joined."""
        first = self.next()
        if first.kind == "op" or first.is_word("LIKE", "ILIKE", "IN"):
            return first.text.upper(), first
        if first.is_word("NOT"):
            self.expect_word("IN", "IN after NOT")
            return "NOT IN", first
        if first.is_word("IS"):
            if self.peek().is_word("NOT"):
                self.next()
                self.expect_word("NULL", "NULL after IS NOT")
                return "IS NOT NULL", first
            self.expect_word("NULL", "NULL or NOT NULL after IS")
            return "IS NULL", first
        return "", first  # not a comparator: the caller names the ones allowed

    def clause(self) -> Comparison:
        rules = _FILTER_RULES[self.entity]
        kind, key = self.identifier(rules)
        ops, numeric = rules[kind].get(key) or rules[kind][_ANY]
        op, op_tok = self.comparator()
        if op not in ops:
            # A real comparator in the wrong place is named as such; anything else is unexpected.
            spelled = self.text[op_tok.pos : self.tokens[self.index - 1].end]
            problem = f"comparator {_show(spelled)} is not allowed for {_name(kind, key)}"
            self.fail(op_tok, f"one of {' '.join(ops)}", problem if op in _ALL_OPS else None)
        if op in ("IS NULL", "IS NOT NULL"):
            return Comparison(kind, key, op, None)
        if op in ("IN", "NOT IN"):
            return Comparison(kind, key, op, self.string_list())
        tok = self.next()
        if numeric:
            if tok.kind != "number":
                self.fail(tok, f"a number for {_name(kind, key)}, e.g. 0.9, -3 or 1e-5")
            integral = not any(c in tok.text for c in ".eE")
            return Comparison(kind, key, op, int(tok.text) if integral else float(tok.text))
        if tok.kind != "string":
            self.fail(tok, f"a quoted string for {_name(kind, key)}, e.g. 'value' or \"value\"")
        return Comparison(kind, key, op, tok.text[1:-1])

    def string_list(self) -> tuple[str, ...]:
        if (opening := self.next()).kind != "lparen":
            self.fail(opening, "a parenthesised list of quoted strings, e.g. ('a', 'b')")
        if self.peek().kind == "rparen":
            self.fail(self.peek(), "at least one quoted string, e.g. ('a', 'b')", "empty IN list")
        items: list[str] = []
        while True:
            if (item := self.next()).kind != "string":
                self.fail(item, "a quoted string in the IN list, e.g. ('a', 'b')")
            items.append(item.text[1:-1])
            if (sep := self.next()).kind == "rparen":
                return tuple(items)
            if sep.kind != "comma":
                self.fail(sep, "',' or ')' in the IN list")

    def filter(self) -> list[Comparison]:
        comparisons = [self.clause()]
        while (tok := self.next()).kind != "end":
            if tok.is_word("OR"):
                self.fail(tok, "AND", "Invalid clause(s) in filter string: 'OR'")
            if not tok.is_word("AND"):
                self.fail(tok, "AND or the end of the filter")
            comparisons.append(self.clause())
        return comparisons

    def order_key(self) -> OrderKey:
        kind, key = self.identifier(_ORDER_RULES[self.entity])
        direction = self.next()
        if direction.kind != "end" and not direction.is_word("ASC", "DESC"):
            self.fail(direction, "ASC or DESC")
        if (trailing := self.next()).kind != "end":
            self.fail(trailing, f"the end of the order_by clause after {direction.text}")
        return OrderKey(kind, key, ascending=not direction.is_word("DESC"))


def parse_filter(filter_string: str | None, entity: EntityType = "run") -> list[Comparison]:
    """Parse an MLflow filter string into its AND-ed comparisons; empty or None gives [].

    Raises MalformedFilterError naming the offending token and its position.

    Example:
        >>> parse_filter("params.lr IN ('0.1')")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        prefect_mltrack.exceptions.MalformedFilterError: ...comparator 'IN' is not allowed for ...
        >>> parse_filter("created >= 1700000000000")
        [Comparison(kind='attribute', key='start_time', comparator='>=', value=1700000000000)]
    """
    if filter_string is None or not filter_string.strip():
        return []
    return _Parser(filter_string, entity, "filter").filter()


def parse_order_by(order_by: list[str] | None, entity: EntityType = "run") -> list[OrderKey]:
    """Parse order_by items such as ``"metrics.acc DESC"``; ASC unless DESC is given.

    Example:
        >>> parse_order_by(["metrics.acc DESC"])
        [OrderKey(kind='metric', key='acc', ascending=False)]
    """
    keys: list[OrderKey] = []
    for item in order_by or []:
        parser = _Parser(item, entity, "order_by clause")
        order_key = parser.order_key()
        if any((k.kind, k.key) == (order_key.kind, order_key.key) for k in keys):
            problem = f"order_by contains duplicate key {_show(_name(order_key.kind, order_key.key))}"
            parser.fail(parser.tokens[0], "each key at most once", problem)
        keys.append(order_key)
    return keys


def encode_page_token(offset: int) -> str:
    """The opaque ``next_page_token`` for a page starting at ``offset``: base64 of ``{"offset": N}``.

    Example:
        >>> decode_page_token(encode_page_token(100))
        100
    """
    if offset < 0:
        raise InvalidParameterError(f"A page offset must be >= 0, got {offset}")
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for; None or "" (no token) is the first page, offset 0."""
    if not token:
        return 0
    try:
        payload = json.loads(base64.b64decode(token, validate=True))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError all are
        raise InvalidParameterError(f"Invalid page token {token!r}: not base64 JSON") from exc
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if type(offset) is not int or offset < 0:  # type() and not isinstance(): True is no offset
        raise InvalidParameterError(f'Invalid page token {token!r}: expected base64 of {{"offset": N}} with N >= 0')
    return offset
