"""MLflow's search grammar: what parses, into what, and how every mistake is reported."""

from __future__ import annotations

import base64
import json

import pytest

from prefect_mltrack import search
from prefect_mltrack.exceptions import InvalidParameterError, MalformedFilterError
from prefect_mltrack.search import (
    Comparison,
    OrderKey,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)

NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="]
STRING_OPS = ["=", "!=", "LIKE", "ILIKE"]


def one(filter_string: str, entity: str = "run") -> Comparison:
    comparisons = parse_filter(filter_string, entity)  # type: ignore[arg-type]
    assert len(comparisons) == 1
    return comparisons[0]


def malformed(filter_string: str, entity: str = "run") -> MalformedFilterError:
    with pytest.raises(MalformedFilterError) as info:
        parse_filter(filter_string, entity)  # type: ignore[arg-type]
    error = info.value
    # Every message quotes the whole filter, says where, and says what would have been right.
    assert f'Invalid filter "{filter_string}": ' in error.message
    assert f"at position {error.position};" in error.message
    assert "expected " in error.message
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    return error


def test_public_surface() -> None:
    assert sorted(search.__all__) == sorted(
        [
            "Comparison",
            "EntityType",
            "Kind",
            "OrderKey",
            "decode_page_token",
            "encode_page_token",
            "parse_filter",
            "parse_order_by",
        ]
    )


# --- What parses -----------------------------------------------------------------------------


@pytest.mark.parametrize("filter_string", [None, "", "   ", "\n\t "])
def test_empty_filter_is_no_comparisons(filter_string: str | None) -> None:
    assert parse_filter(filter_string) == []


@pytest.mark.parametrize("op", NUMERIC_OPS)
def test_metric_numeric_comparators(op: str) -> None:
    assert one(f"metrics.acc {op} 0.9") == Comparison("metric", "acc", op, 0.9)


@pytest.mark.parametrize("kind,prefix", [("param", "params"), ("tag", "tags")])
@pytest.mark.parametrize("op", STRING_OPS)
def test_param_and_tag_string_comparators(kind: str, prefix: str, op: str) -> None:
    assert one(f"{prefix}.k {op} 'v%'") == Comparison(kind, "k", op, "v%")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind,prefix", [("param", "params"), ("tag", "tags")])
@pytest.mark.parametrize("op", ["IS NULL", "IS NOT NULL"])
def test_param_and_tag_null_checks(kind: str, prefix: str, op: str) -> None:
    assert one(f"{prefix}.k {op}") == Comparison(kind, "k", op, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "filter_string,expected",
    [
        ("params.k is null", Comparison("param", "k", "IS NULL", None)),
        ("tags.k Is Not NuLL", Comparison("tag", "k", "IS NOT NULL", None)),
        ("params.k like 'a%'", Comparison("param", "k", "LIKE", "a%")),
        ("params.k iLike 'a%'", Comparison("param", "k", "ILIKE", "a%")),
        ("run_id in ('a')", Comparison("attribute", "run_id", "IN", ("a",))),
        ("run_id not in ('a')", Comparison("attribute", "run_id", "NOT IN", ("a",))),
        ("METRICS.acc > 1", Comparison("metric", "acc", ">", 1)),
        ("Tags.k = 'v'", Comparison("tag", "k", "=", "v")),
        ("ATTRIBUTES.STATUS = 'FINISHED'", Comparison("attribute", "status", "=", "FINISHED")),
    ],
)
def test_keywords_types_and_attributes_are_case_insensitive(filter_string: str, expected: Comparison) -> None:
    assert one(filter_string) == expected


def test_metric_and_param_keys_keep_their_case() -> None:
    assert one("metrics.Acc > 1").key == "Acc"
    assert one("params.LR = '1'").key == "LR"


@pytest.mark.parametrize(
    "alias,kind",
    [
        ("metrics", "metric"),
        ("metric", "metric"),
        ("params", "param"),
        ("param", "param"),
        ("parameter", "param"),
        ("parameters", "param"),
        ("tags", "tag"),
        ("tag", "tag"),
    ],
)
def test_type_aliases(alias: str, kind: str) -> None:
    value = "1" if kind == "metric" else "'1'"
    assert one(f"{alias}.k = {value}").kind == kind


@pytest.mark.parametrize("alias", ["attributes", "attribute", "attr", "run", ""])
def test_attribute_aliases_and_bare_attributes(alias: str) -> None:
    prefix = f"{alias}." if alias else ""
    assert one(f"{prefix}status = 'FINISHED'") == Comparison("attribute", "status", "=", "FINISHED")


@pytest.mark.parametrize("alias", ["datasets", "dataset"])
def test_dataset_aliases(alias: str) -> None:
    assert one(f"{alias}.name = 'iris'") == Comparison("dataset", "name", "=", "iris")


@pytest.mark.parametrize(
    "identifier,key",
    [
        ("tags.`mlflow.runName`", "mlflow.runName"),
        ('tags."mlflow.runName"', "mlflow.runName"),
        ("tags.'mlflow.runName'", "mlflow.runName"),
        ("tags.mlflow.runName", "mlflow.runName"),
        ("tags.mlflow.source.git.commit", "mlflow.source.git.commit"),
        ('params."my key"', "my key"),
        ("params.`my key`", "my key"),
        ("params.a-b/c:d_e.1", "a-b/c:d_e.1"),
        ("params.`a-b/c: d`", "a-b/c: d"),
        ("params.1st", "1st"),
    ],
)
def test_key_quoting_and_dotted_keys(identifier: str, key: str) -> None:
    assert one(f"{identifier} = 'x'").key == key


@pytest.mark.parametrize(
    "spelling",
    ["run_name", "`Run name`", '"run name"', "`RUN NAME`", "attributes.`Run name`", "Run_Name"],
)
def test_run_name_spellings(spelling: str) -> None:
    assert one(f"{spelling} = 'x'") == Comparison("attribute", "run_name", "=", "x")


@pytest.mark.parametrize("spelling", ["created", "attributes.created", "attr.CREATED"])
def test_created_is_start_time(spelling: str) -> None:
    assert one(f"{spelling} > 5") == Comparison("attribute", "start_time", ">", 5)


@pytest.mark.parametrize(
    "literal,value",
    [
        ("1", 1),
        ("0", 0),
        ("-3", -3),
        ("+7", 7),
        ("1700000000000", 1700000000000),
        ("0.9", 0.9),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-5", 1e-5),
        ("-2.5e+2", -250.0),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    parsed = one(f"metrics.m >= {literal}").value
    assert parsed == value
    # Integral literals stay ints (exact ms timestamps); anything with '.' or 'e' is a float.
    assert type(parsed) is type(value)


@pytest.mark.parametrize(
    "filter_string,value",
    [
        ("params.p = 'single'", "single"),
        ('params.p = "double"', "double"),
        ('params.p = "it\'s"', "it's"),
        ("params.p = 'say \"hi\"'", 'say "hi"'),
        ("params.p = ''", ""),
        ("params.p = ' spaced  out '", " spaced  out "),
        ("params.p = 'AND OR = ( )'", "AND OR = ( )"),
        ("params.p = '0.1'", "0.1"),
    ],
)
def test_string_values(filter_string: str, value: str) -> None:
    assert one(filter_string).value == value


def test_no_whitespace_needed_around_operators() -> None:
    assert parse_filter("metrics.a>=-1 AND params.p='x'") == [
        Comparison("metric", "a", ">=", -1),
        Comparison("param", "p", "=", "x"),
    ]


@pytest.mark.parametrize(
    "filter_string,value",
    [
        ("run_id IN ('a')", ("a",)),
        ("run_id IN ('a', \"b\")", ("a", "b")),
        ("run_id IN('a','b','c')", ("a", "b", "c")),
        ("run_id IN ( 'a' , 'b' )", ("a", "b")),
        ("run_id IN ('a, b')", ("a, b",)),
    ],
)
def test_in_lists(filter_string: str, value: tuple[str, ...]) -> None:
    assert one(filter_string).value == value


def test_and_chain() -> None:
    assert parse_filter(
        "metrics.acc > 0.9 AND params.lr = '0.1' and tags.`mlflow.runName` LIKE 'cv-%' "
        "And status != 'FAILED' AND run_id NOT IN ('r1', 'r2') AND tags.t IS NOT NULL "
        "AND datasets.context = 'train'"
    ) == [
        Comparison("metric", "acc", ">", 0.9),
        Comparison("param", "lr", "=", "0.1"),
        Comparison("tag", "mlflow.runName", "LIKE", "cv-%"),
        Comparison("attribute", "status", "!=", "FAILED"),
        Comparison("attribute", "run_id", "NOT IN", ("r1", "r2")),
        Comparison("tag", "t", "IS NOT NULL", None),
        Comparison("dataset", "context", "=", "train"),
    ]


def test_same_key_twice_is_fine_in_a_filter() -> None:
    assert len(parse_filter("metrics.a > 1 AND metrics.a < 2")) == 2


# Every (identifier, comparator) the spec allows, per entity; each must parse.
ALLOWED = {
    "run": {
        "attributes.run_id": [*STRING_OPS, "IN", "NOT IN"],
        **{f"attributes.{k}": STRING_OPS for k in ("run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")},
        **{f"attributes.{k}": NUMERIC_OPS for k in ("start_time", "end_time", "created")},
        **{f"datasets.{k}": [*STRING_OPS, "IN", "NOT IN"] for k in ("name", "digest", "context")},
    },
    "experiment": {
        "name": STRING_OPS,
        "experiment_id": ["=", "!=", "IN", "NOT IN"],
        "creation_time": NUMERIC_OPS,
        "last_update_time": NUMERIC_OPS,
        "tags.k": [*STRING_OPS, "IS NULL", "IS NOT NULL"],
    },
    "registered_model": {
        "name": [*STRING_OPS, "IN", "NOT IN"],
        "tags.k": [*STRING_OPS, "IS NULL", "IS NOT NULL"],
        "tag.k": [*STRING_OPS, "IS NULL", "IS NOT NULL"],
    },
    "model_version": {
        "name": [*STRING_OPS, "IN", "NOT IN"],
        "run_id": [*STRING_OPS, "IN", "NOT IN"],
        "source_path": STRING_OPS,
        "version_number": NUMERIC_OPS,
        "creation_timestamp": NUMERIC_OPS,
        "last_updated_timestamp": NUMERIC_OPS,
        "tags.k": [*STRING_OPS, "IS NULL", "IS NOT NULL"],
    },
}
ALL_OPS = sorted({*NUMERIC_OPS, *STRING_OPS, "IN", "NOT IN", "IS NULL", "IS NOT NULL"})


def clause_for(identifier: str, op: str, numeric: bool) -> str:
    if op in ("IN", "NOT IN"):
        return f"{identifier} {op} ('a', 'b')"
    if op in ("IS NULL", "IS NOT NULL"):
        return f"{identifier} {op}"
    return f"{identifier} {op} {'5' if numeric else repr('v')}"


@pytest.mark.parametrize(
    "entity,identifier,ops",
    [(e, i, ops) for e, table in ALLOWED.items() for i, ops in table.items()],
)
def test_per_entity_table(entity: str, identifier: str, ops: list[str]) -> None:
    numeric = ops is NUMERIC_OPS
    for op in ALL_OPS:
        filter_string = clause_for(identifier, op, numeric)
        if op in ops:
            comparison = one(filter_string, entity)
            assert comparison.comparator == op
            assert comparison.value == (("a", "b") if "IN" in op else None if "NULL" in op else 5 if numeric else "v")
        else:
            error = malformed(filter_string, entity)
            assert f"comparator '{op}' is not allowed" in error.message
            assert error.message.endswith(f"expected one of {' '.join(ops)}")
            assert error.position == len(identifier) + 1


@pytest.mark.parametrize(
    "entity,filter_string,kind",
    [
        ("experiment", "metrics.a > 1", "metrics"),
        ("experiment", "params.a = 'x'", "params"),
        ("registered_model", "datasets.name = 'x'", "datasets"),
        ("model_version", "metric.a > 1", "metric"),
    ],
)
def test_kinds_an_entity_does_not_have(entity: str, filter_string: str, kind: str) -> None:
    error = malformed(filter_string, entity)
    assert f"unknown identifier type '{kind}' at position 0" in error.message
    assert error.message.endswith("expected one of attributes, tags")


@pytest.mark.parametrize(
    "entity,attribute",
    [
        ("experiment", "status"),
        ("experiment", "start_time"),
        ("registered_model", "run_id"),
        ("model_version", "status"),
        ("run", "creation_time"),
        ("run", "experiment_id"),
    ],
)
def test_attributes_of_other_entities_are_unknown(entity: str, attribute: str) -> None:
    error = malformed(f"{attribute} = 'x'", entity)
    assert f"unknown attribute '{attribute}' at position 0" in error.message


# --- Errors: each names the token and its position -------------------------------------------

ERRORS = [
    # (filter, offending text in the message, position, words of what is expected)
    ("metrics.acc >> 0.9", "unexpected '>>'", 12, "expected one of = != < <= > >="),
    ("metrics.acc <> 0.9", "unexpected '<>'", 12, "expected one of = != < <= > >="),
    ("metrics.acc == 0.9", "unexpected '=='", 12, "expected one of = != < <= > >="),
    ("metrics.acc ~ 0.9", "unexpected '~'", 12, "expected one of = != < <= > >="),
    (
        "metrics.a > 1 OR params.p = 'x'",
        "Invalid clause(s) in filter string: 'OR'",
        14,
        "expected AND",
    ),
    ("metrics.a > 1 or params.p = 'x'", "Invalid clause(s) in filter string: 'OR'", 14, "AND"),
    ("params.p = 'abc", 'unterminated string "\'abc"', 11, "expected a closing '"),
    ('params.p = "abc', "unterminated string '\"abc'", 11, 'expected a closing "'),
    ("tags.`abc = 'x'", "unterminated string \"`abc = 'x'\"", 5, "expected a closing `"),
    ("metrics.acc >", "unexpected end of filter", 13, "expected a number for metrics.acc"),
    ("params.p =", "unexpected end of filter", 10, "expected a quoted string for params.p"),
    ("params.p = AND", "unexpected 'AND'", 11, "expected a quoted string"),
    ("metrics.acc", "unexpected end of filter", 11, "expected one of = != < <= > >="),
    ("metrics.acc 0.9", "unexpected '0.9'", 12, "expected one of = != < <= > >="),
    ("metrics.acc LIKE '1'", "comparator 'LIKE' is not allowed for metrics.acc", 12, "= != <"),
    ("metrics.acc IS NULL", "comparator 'IS NULL' is not allowed for metrics.acc", 12, ">="),
    ("metrics.acc > 'x'", "unexpected \"'x'\"", 14, "expected a number for metrics.acc"),
    ('metrics.acc > "0.9"', "unexpected '\"0.9\"'", 14, "expected a number"),
    ("metrics.acc > abc", "unexpected 'abc'", 14, "expected a number"),
    ("metrics.acc > 0.9abc", "unexpected '0.9abc'", 14, "expected a number"),
    ("metrics.acc > 1.2.3", "unexpected '1.2.3'", 14, "expected a number"),
    (
        "start_time > 'yesterday'",
        "unexpected \"'yesterday'\"",
        13,
        "a number for attributes.start_time",
    ),
    ("params.p = abc", "unexpected 'abc'", 11, "expected a quoted string for params.p"),
    ("params.p = 0.1", "unexpected '0.1'", 11, "expected a quoted string"),
    ("tags.t = `x`", "unexpected '`x`'", 9, "expected a quoted string"),
    (
        "status IN ('a')",
        "comparator 'IN' is not allowed for attributes.status",
        7,
        "= != LIKE ILIKE",
    ),
    (
        "run_name NOT IN ('a')",
        "comparator 'NOT IN' is not allowed for attributes.run_name",
        9,
        "ILIKE",
    ),
    ("params.p in ('a')", "comparator 'in' is not allowed for params.p", 9, "IS NOT NULL"),
    ("status IS NULL", "comparator 'IS NULL' is not allowed for attributes.status", 7, "LIKE"),
    ("foo = 'x'", "unknown attribute 'foo'", 0, "expected one of artifact_uri, end_time"),
    ("attributes.foo = 'x'", "unknown attribute 'foo'", 11, "run_id, run_name"),
    ("`no such` = 'x'", "unknown attribute 'no such'", 0, "expected one of"),
    (
        "datasets.size = 'x'",
        "unknown dataset field 'size'",
        9,
        "expected one of context, digest, name",
    ),
    (
        "bogus.x = 1",
        "unknown identifier type 'bogus'",
        0,
        "metrics, params, tags, attributes, datasets",
    ),
    ("metrics = 1", "missing key after 'metrics'", 0, "expected 'metrics.<key>'"),
    ("tags. `x` = 'v'", "missing key after 'tags.'", 5, "expected a key"),
    ("tags.", "missing key after 'tags.'", 5, "expected a key"),
    ("tags.= 'v'", "missing key after 'tags.'", 5, "expected a key"),
    ("tags.`` = 'v'", "unexpected '``'", 5, "a key of letters, digits"),
    ("tags.`a$b` = 'v'", "unexpected '`a$b`'", 5, "a key of letters, digits"),
    ("metrics.a > 1 foo", "unexpected 'foo'", 14, "expected AND or the end of the filter"),
    (
        "metrics.a > 1 AND",
        "unexpected end of filter",
        17,
        "expected an identifier such as metrics.<key>",
    ),
    ("metrics.a > 1 AND AND metrics.b < 2", "unexpected 'AND'", 18, "attribute name"),
    ("metrics.a > 1)", "unexpected ')'", 13, "expected AND or the end of the filter"),
    ("(metrics.a > 1)", "unexpected '('", 0, "expected an identifier"),
    ("NOT metrics.a > 1", "unexpected 'NOT'", 0, "expected an identifier"),
    ("= 1", "unexpected '='", 0, "expected an identifier"),
    ("'status' = 'x'", "unexpected \"'status'\"", 0, "expected an identifier"),
    ("run_id IN ()", "empty IN list", 11, "expected at least one quoted string"),
    ("run_id IN ( )", "empty IN list", 12, "expected at least one quoted string"),
    ("run_id IN 'a'", "unexpected \"'a'\"", 10, "expected a parenthesised list of quoted strings"),
    ("run_id IN", "unexpected end of filter", 9, "expected a parenthesised list"),
    ("run_id IN ('a',)", "unexpected ')'", 15, "expected a quoted string in the IN list"),
    ("run_id IN ('a' 'b')", "unexpected \"'b'\"", 15, "expected ',' or ')' in the IN list"),
    ("run_id IN ('a'", "unexpected end of filter", 14, "expected ',' or ')'"),
    ("run_id IN (a)", "unexpected 'a'", 11, "expected a quoted string in the IN list"),
    ("run_id IN (1, 2)", "unexpected '1'", 11, "expected a quoted string in the IN list"),
    ("params.p NOT LIKE 'x'", "unexpected 'LIKE'", 13, "expected IN after NOT"),
    ("params.p IS 'x'", "unexpected \"'x'\"", 12, "expected NULL or NOT NULL after IS"),
    ("params.p IS NOT 'x'", "unexpected \"'x'\"", 16, "expected NULL after IS NOT"),
    ("params.p IS", "unexpected end of filter", 11, "expected NULL or NOT NULL"),
]


@pytest.mark.parametrize("filter_string,problem,position,expected", ERRORS)
def test_errors_point_at_the_token(filter_string: str, problem: str, position: int, expected: str) -> None:
    error = malformed(filter_string)
    assert error.position == position
    assert f"{problem} at position {position}; " in error.message
    assert expected in error.message


def test_error_message_format_matches_the_documented_example() -> None:
    error = malformed("metrics.acc >> 0.9")
    assert error.message == (
        "Invalid filter \"metrics.acc >> 0.9\": unexpected '>>' at position 12; expected one of = != < <= > >="
    )
    assert str(error).startswith("INVALID_PARAMETER_VALUE: Invalid filter")
    assert error.to_dict()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_or_error_uses_mlflows_words() -> None:
    error = malformed("params.a = 'x' OR params.b = 'y'")
    assert "Invalid clause(s) in filter string: 'OR'" in error.message
    assert error.position == 15


def test_errors_are_invalid_parameter_errors() -> None:
    with pytest.raises(InvalidParameterError):
        parse_filter("metrics.a >> 1")


def test_unknown_entity() -> None:
    with pytest.raises(InvalidParameterError, match="Unknown search entity 'job'"):
        parse_filter("name = 'x'", "job")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="Unknown search entity"):
        parse_order_by(["name"], "job")  # type: ignore[arg-type]


# --- order_by --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item,expected",
    [
        ("metrics.acc DESC", OrderKey("metric", "acc", False)),
        ("metrics.acc", OrderKey("metric", "acc", True)),
        ("metric.acc asc", OrderKey("metric", "acc", True)),
        ("params.lr", OrderKey("param", "lr", True)),
        ("tags.t ASC", OrderKey("tag", "t", True)),
        ("tags.`mlflow.runName` desc", OrderKey("tag", "mlflow.runName", False)),
        ('tags."my tag" Desc', OrderKey("tag", "my tag", False)),
        ("tags.mlflow.runName DESC", OrderKey("tag", "mlflow.runName", False)),
        ("attributes.start_time", OrderKey("attribute", "start_time", True)),
        ("start_time DESC", OrderKey("attribute", "start_time", False)),
        ("run_name", OrderKey("attribute", "run_name", True)),
        ("`Run name` DESC", OrderKey("attribute", "run_name", False)),
        ("created", OrderKey("attribute", "start_time", True)),
        ("  experiment_id   DESC  ", OrderKey("attribute", "experiment_id", False)),
    ],
)
def test_order_by_items(item: str, expected: OrderKey) -> None:
    assert parse_order_by([item]) == [expected]


@pytest.mark.parametrize("order_by", [None, []])
def test_no_order_by(order_by: list[str] | None) -> None:
    assert parse_order_by(order_by) == []


def test_order_by_keeps_the_given_order() -> None:
    assert parse_order_by(["metrics.a DESC", "params.a", "tags.a", "end_time DESC"]) == [
        OrderKey("metric", "a", False),
        OrderKey("param", "a", True),
        OrderKey("tag", "a", True),
        OrderKey("attribute", "end_time", False),
    ]


@pytest.mark.parametrize(
    "entity,keys",
    [
        (
            "run",
            [
                "start_time",
                "end_time",
                "run_name",
                "run_id",
                "status",
                "user_id",
                "artifact_uri",
                "experiment_id",
            ],
        ),
        ("experiment", ["name", "experiment_id", "creation_time", "last_update_time"]),
        ("registered_model", ["name", "creation_timestamp", "last_updated_timestamp"]),
        (
            "model_version",
            ["name", "version_number", "creation_timestamp", "last_updated_timestamp"],
        ),
    ],
)
def test_order_by_attributes_per_entity(entity: str, keys: list[str]) -> None:
    parsed = parse_order_by([f"{key} DESC" for key in keys], entity)  # type: ignore[arg-type]
    assert parsed == [OrderKey("attribute", key, False) for key in keys]


def test_registered_model_timestamp_alias() -> None:
    assert parse_order_by(["timestamp DESC"], "registered_model") == [
        OrderKey("attribute", "last_updated_timestamp", False)
    ]


def order_error(order_by: list[str], entity: str = "run") -> MalformedFilterError:
    with pytest.raises(MalformedFilterError) as info:
        parse_order_by(order_by, entity)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    "item,problem,position,expected",
    [
        ("metrics.acc DOWN", "unexpected 'DOWN'", 12, "expected ASC or DESC"),
        ("metrics.acc DESC NULLS", "unexpected 'NULLS'", 17, "expected the end of the order_by"),
        ("metrics.acc ASC, params.a", "unexpected ','", 15, "expected the end"),
        ("metrics.acc = 1", "unexpected '='", 12, "expected ASC or DESC"),
        ("", "unexpected end of order_by clause", 0, "expected an identifier"),
        ("datasets.name", "unknown identifier type 'datasets'", 0, "attributes, metrics"),
        ("lifecycle_stage", "unknown attribute 'lifecycle_stage'", 0, "experiment_id"),
        ("attributes.nope DESC", "unknown attribute 'nope'", 11, "expected one of artifact_uri"),
        ("tags.`open", "unterminated string '`open'", 5, "expected a closing `"),
    ],
)
def test_order_by_errors(item: str, problem: str, position: int, expected: str) -> None:
    error = order_error([item])
    assert error.position == position
    assert error.message.startswith(f'Invalid order_by clause "{item}": ')
    assert f"{problem} at position {position}; " in error.message
    assert expected in error.message


@pytest.mark.parametrize(
    "entity,item",
    [
        ("experiment", "tags.t"),
        ("experiment", "metrics.a"),
        ("registered_model", "version_number"),
        ("model_version", "run_id"),
        ("registered_model", "creation_time"),
    ],
)
def test_order_by_keys_an_entity_cannot_sort_on(entity: str, item: str) -> None:
    error = order_error([item], entity)
    assert error.position == 0
    assert "unknown" in error.message


@pytest.mark.parametrize(
    "order_by,name",
    [
        (["metrics.acc DESC", "metrics.acc ASC"], "metrics.acc"),
        (["metrics.acc", "metric.acc"], "metrics.acc"),
        (["tags.`a`", "tags.a DESC"], "tags.a"),
        (["start_time", "attributes.created DESC"], "attributes.start_time"),
    ],
)
def test_order_by_duplicate_key(order_by: list[str], name: str) -> None:
    error = order_error(order_by)
    assert f"order_by contains duplicate key '{name}'" in error.message
    assert error.position == 0


def test_same_key_of_different_kinds_is_not_a_duplicate() -> None:
    assert len(parse_order_by(["metrics.a", "params.a", "tags.a"])) == 3


# --- page tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 100, 50_000, 10**12])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert json.loads(base64.b64decode(token)) == {"offset": offset}
    assert decode_page_token(token) == offset


@pytest.mark.parametrize("token", [None, ""])
def test_no_page_token_is_the_first_page(token: str | None) -> None:
    assert decode_page_token(token) == 0


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "abc",  # bad padding
        b64("not json"),
        b64("[1, 2]"),
        b64("{}"),
        b64('{"offset": "10"}'),
        b64('{"offset": -1}'),
        b64('{"offset": 1.5}'),
        b64('{"offset": true}'),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_page_token(token: str) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid page token") as info:
        decode_page_token(token)
    assert not isinstance(info.value, MalformedFilterError)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_negative_offset_cannot_be_encoded() -> None:
    with pytest.raises(InvalidParameterError):
        encode_page_token(-1)


def test_registry_prompt_filter_sent_by_mlflow_3_clients() -> None:
    # The 3.x client adds this clause to every registered-model search to hide prompts.
    assert parse_filter("name LIKE 'my-%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "registered_model") == [
        Comparison("attribute", "name", "LIKE", "my-%"),
        Comparison("tag", "mlflow.prompt.is_prompt", "!=", "true"),
    ]
