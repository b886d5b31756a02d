"""Command building: no parameter value or key can break out of its argument."""

from __future__ import annotations

import shlex

import pytest

from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.projects.command import build_command, to_argv

TEMPLATE = "python train.py --name {name} --alpha {alpha}"


@pytest.mark.parametrize(
    "evil", ["x; touch owned", "$(touch owned)", "`touch owned`", "a' b \"c", "x && rm -rf /", "line\nbreak", "{alpha}"]
)
def test_value_stays_one_argument(evil: str):
    line = build_command(TEMPLATE, {"name": evil, "alpha": 0.5}, {})
    assert to_argv(TEMPLATE, line) == ["python", "train.py", "--name", evil, "--alpha", "0.5"]


def test_extras_are_appended_quoted_key_included():
    line = build_command(TEMPLATE, {"name": "n", "alpha": 1}, {"x; touch owned": "v; rm", "seed": "7"})
    assert shlex.split(line)[-4:] == ["--x; touch owned", "v; rm", "--seed", "7"]


def test_shell_templates_run_with_bash_and_keep_values_quoted():
    template = "cd data && python train.py {name} | tee log.txt"
    line = build_command(template, {"name": "x; touch owned"}, {})
    argv = to_argv(template, line)
    assert argv[:2] == ["bash", "-c"]
    assert "'x; touch owned'" in argv[2]


def test_shell_syntax_inside_a_value_does_not_switch_to_bash():
    line = build_command("python t.py {name}", {"name": "a|b"}, {})
    assert to_argv("python t.py {name}", line) == ["python", "t.py", "a|b"]


def test_undeclared_placeholder_and_escaped_braces():
    with pytest.raises(InvalidParameterError, match=r"\{nope\}"):
        build_command("python t.py {nope}", {}, {})
    with pytest.raises(InvalidParameterError):
        build_command("python t.py {name.__class__}", {"name": "x"}, {})
    assert build_command("echo {{literal}} {a}", {"a": 1}, {}) == "echo {literal} 1"
