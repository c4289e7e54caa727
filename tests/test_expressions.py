"""The expression language: what it computes, what it refuses, and that it cannot escape."""

from __future__ import annotations

from typing import Any

import pytest

from mastermind.errors import ExpressionError
from mastermind.language.expressions import STATUS_KEY, parse, references
from mastermind.language.templates import compile_value

ENV: dict[str, Any] = {
    "inputs": {"n": 3, "name": "Ada", "tags": ["a", "b"], "flag": True, "nothing": None},
    "steps": {
        "fetch": {"outputs": {"status": 200, "json": {"items": [1, 2, 3]}}, "status": "succeeded"}
    },
    "item": {"url": "http://127.0.0.1/x"},
    "index": 2,
    "run": {"id": "r1"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("8 / 2", 4),
        ("7 % 4", 3),
        ("-inputs.n", -3),
        ("'it''s'", "it's"),
        ('"tab\\tand \\"quote\\""', 'tab\tand "quote"'),
        ("inputs.n == 3 and inputs.name == 'Ada'", True),
        ("inputs.n > 5 or inputs.flag", True),
        ("not inputs.flag", False),
        ("inputs.n != 3", False),
        ("1 == true", False),
        ("inputs.tags[1]", "b"),
        ("inputs.tags[-1]", "a" if False else "b"),
        ("inputs.tags[9]", None),
        ("inputs['name']", "Ada"),
        ("steps.fetch.outputs.json.items", [1, 2, 3]),
        ("steps.fetch.outputs.missing.deeper", None),
        ("len(steps.fetch.outputs.json.items)", 3),
        ("contains(inputs.tags, 'a')", True),
        ("contains('haystack', 'st')", True),
        ("startsWith(item.url, 'http://')", True),
        ("endsWith(item.url, '/x')", True),
        ("format('{0} has {1} {{tags}}', inputs.name, len(inputs.tags))", "Ada has 2 {tags}"),
        ("toJSON(inputs.tags)", '["a", "b"]'),
        ("fromJSON('{\"a\": [1]}').a[0]", 1),
        ("default(inputs.nothing, 'fallback')", "fallback"),
        ("default(inputs.n, 0)", 3),
        ("join(inputs.tags, '+')", "a+b"),
        ("[1, index, 'x']", [1, 2, "x"]),
        ("inputs.tags + ['c']", ["a", "b", "c"]),
        ("'a' < 'b'", True),
        ("1.5e3", 1500.0),
        ("null", None),
    ],
)
def test_evaluates(source: str, expected: Any) -> None:
    assert parse(source).evaluate(ENV) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1 +", "expected a value"),
        ("a && b", "use `and` instead of `&&`"),
        ("a || b", "use `or` instead of `||`"),
        ("!a", "use `not` instead of `!`"),
        ("1 < 2 < 3", "comparisons do not chain"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("len()", "len() takes 1 argument(s), got 0"),
        ("", "empty expression"),
        ("a ; b", "unexpected character ';'"),
        ("(1", "expected ')'"),
        ("a.", "expected a field name"),
    ],
)
def test_refuses_to_parse(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("inputs.name + 1", "cannot add string and number"),
        ("inputs.n / 0", "division by zero"),
        ("inputs.n < 'x'", "cannot compare number < string"),
        ("inputs.n.x", "cannot read 'x' of a number"),
        ("undefined_name", "'undefined_name' is not defined"),
        ("fromJSON('{nope')", "not JSON"),
        ("len(5)", "len\\(\\) takes a string, array or object"),
        # numbers stay data the stores keep: finite, integers within 64 bits
        ("1e308 * 10", "the result of \\* is not a finite number"),
        ("9223372036854775807 + 1", "integer outside -2\\*\\*63"),
        ("-9223372036854775807 - 2", "integer outside"),
        ("inputs.tags[0.5]", "index must be an integer, not 0.5"),
    ],
)
def test_reports_evaluation_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(source).evaluate(ENV)


def test_no_escape_to_python_internals() -> None:
    # Field access reads dict keys only; dunder names are just keys that are not there.
    assert parse("inputs.__class__").evaluate(ENV) is None
    assert parse("inputs.name.__class__ == null").evaluate({"inputs": {"name": {}}}) is True
    with pytest.raises(ExpressionError):
        parse("inputs.name.upper").evaluate(ENV)
    with pytest.raises(ExpressionError):
        parse("__import__('os')")


def test_status_functions_read_the_status_the_coordinator_provides() -> None:
    assert parse("always()").evaluate({}) is True
    assert parse("success()").evaluate({}) is True
    assert parse("failure()").evaluate({STATUS_KEY: {"failure": True}}) is True
    assert parse("failure()").evaluate({}) is False


def test_references_are_static_paths() -> None:
    tree = parse("steps.a.outputs[index] + len(inputs.x) + steps['b'].outputs").tree
    assert sorted(references(tree)) == [
        ("index",),
        ("inputs", "x"),
        ("steps", "a", "outputs"),
        ("steps", "b", "outputs"),
    ]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError):
        parse("(" * 5000 + "1" + ")" * 5000)


def test_whole_expression_keeps_its_type_and_strings_interpolate() -> None:
    assert compile_value("${{ inputs.tags }}").render(ENV) == ["a", "b"]
    assert compile_value("  ${{ inputs.n }} ").render(ENV) == 3
    assert (
        compile_value("n=${{ inputs.n }}, f=${{ inputs.flag }}, z=${{ inputs.nothing }}").render(
            ENV
        )
        == "n=3, f=true, z="
    )
    assert compile_value("${{ inputs.tags }}!").render(ENV) == '["a","b"]!'
    assert compile_value("${{ '}}' }}").render(ENV) == "}}"


def test_constant_data_is_not_copied() -> None:
    data = {"a": [1, 2], "b": {"c": "plain"}}
    compiled = compile_value(data)
    assert not compiled.dynamic
    assert compiled.render({}) is data


def test_nested_templates_render_recursively() -> None:
    compiled = compile_value({"list": ["${{ index }}", {"deep": "x${{ index }}"}], "k": 1})
    assert compiled.render(ENV) == {"list": [2, {"deep": "x2"}], "k": 1}


def test_bad_expression_reports_its_path() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_value({"a": [1, {"b": "${{ 1 + }}"}]})
    assert caught.value.path == ("a", 1, "b")
