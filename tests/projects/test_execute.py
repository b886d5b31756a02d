"""Running an entry point as a child process that joins the run: success, failure, interrupt, git, envs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import prefect_mltrack as mltrack
from prefect_mltrack.exceptions import InvalidParameterError
from prefect_mltrack.projects import ProjectExecutionError, execute, load_spec
from prefect_mltrack.projects.environments import ProjectEnvironmentError, ensure_virtualenv, prepare
from prefect_mltrack.projects.run import EXIT_CODE_TAG
from prefect_mltrack.projects.source import fetch_project, split_uri

CHILD = """
import json, sys, time
import prefect_mltrack as mltrack
json.dump(sys.argv[1:], open("argv.json", "w"))
if sys.argv[1] == "sleep":
    print("ready", flush=True)
    time.sleep(60)
with mltrack.start_run():
    mltrack.log_metric("score", 0.9)
print("child done")
sys.exit(int(sys.argv[2]))
"""

MLPROJECT = """
name: demo
entry_points:
  main:
    parameters:
      mode: {type: string, default: run}
      code: {type: int, default: 0}
      data: {type: path, default: data.csv}
    command: "python child.py {mode} {code} {data}"
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "child.py").write_text(CHILD)
    return folder


def test_child_joins_the_run_and_source_tags_are_set(demo: Path, capsys: pytest.CaptureFixture[str]):
    with mltrack.start_run() as active:
        assert execute(load_spec(demo), "main", {"data": "in/data.csv", "extra": "1"}, run_id=active.info.run_id) == 0
    run = mltrack.get_run(active.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"score": 0.9}
    assert run.data.params == {"mode": "run", "code": "0", "data": "in/data.csv", "extra": "1"}  # the user's values
    tags = run.data.tags
    assert tags["mlflow.project.entryPoint"] == "main" and tags["mlflow.project.env"] == "local"
    assert tags["mlflow.source.type"] == "PROJECT" and tags["mlflow.source.name"] == str(demo)
    assert tags[EXIT_CODE_TAG] == "0"
    argv = json.loads((demo / "argv.json").read_text())
    assert argv == ["run", "0", os.path.abspath("in/data.csv"), "--extra", "1"]  # path made absolute
    assert "child done" in capsys.readouterr().out  # output streamed


def test_injection_value_is_one_argument_and_never_runs(demo: Path, tmp_path: Path):
    evil = f"x; touch {tmp_path}/owned; $(touch {tmp_path}/owned2)"
    with mltrack.start_run() as active:
        execute(load_spec(demo), "main", {"mode": evil}, run_id=active.info.run_id)
    assert json.loads((demo / "argv.json").read_text())[0] == evil
    assert not (tmp_path / "owned").exists() and not (tmp_path / "owned2").exists()
    assert mltrack.get_run(active.info.run_id).data.params["mode"] == evil


def test_injection_key_is_refused_as_a_param_name(demo: Path, tmp_path: Path):
    with mltrack.start_run() as active, pytest.raises(InvalidParameterError):
        execute(load_spec(demo), "main", {f"x; touch {tmp_path}/owned": "1"}, run_id=active.info.run_id)
    assert not (tmp_path / "owned").exists()


def test_failure_ends_failed_with_the_exit_code(demo: Path):
    with pytest.raises(ProjectExecutionError) as info, mltrack.start_run() as active:
        execute(load_spec(demo), "main", {"code": 3}, run_id=active.info.run_id)
    assert info.value.exit_code == 3 and "exit code 3" in info.value.message
    run = mltrack.get_run(active.info.run_id)
    assert run.info.status == "FAILED" and run.data.tags[EXIT_CODE_TAG] == "3"


def test_interrupt_kills_the_child_and_ends_killed(demo: Path):
    def interrupt_when_ready() -> None:
        for _ in range(200):
            if (demo / "argv.json").exists():
                break
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    started = time.monotonic()
    threading.Thread(target=interrupt_when_ready, daemon=True).start()
    with pytest.raises(KeyboardInterrupt), mltrack.start_run() as active:
        execute(load_spec(demo), "main", {"mode": "sleep"}, run_id=active.info.run_id)
    assert time.monotonic() - started < 20
    assert mltrack.get_run(active.info.run_id).info.status == "KILLED"
    # the child (sleeping 60 s) is gone: nothing of ours still runs child.py
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert f"{demo}" not in ps and "child.py sleep" not in ps


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    _git(root, "init", "--quiet", "-b", "trunk")
    (root / "sub" / "MLproject").write_text("name: v1\nentry_points: {main: {command: 'python -c pass'}}\n")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "one")
    first = _git(root, "rev-parse", "HEAD")
    _git(root, "tag", "v1")
    (root / "sub" / "MLproject").write_text("name: v2\nentry_points: {main: {command: 'python -c pass'}}\n")
    _git(root, "commit", "--quiet", "-am", "two")
    return root, first, _git(root, "rev-parse", "HEAD")


def test_git_uri_with_subdir_and_version(repo: tuple[Path, str, str]):
    root, first, second = repo
    for uri, version, name, commit in [
        (f"file://{root}#sub", first, "v1", first),
        (f"file://{root}#sub", "v1", "v1", first),
        (f"file://{root}#sub", None, "v2", second),
        (f"{root}#sub", first, "v1", first),  # a local repository with a version is cloned
        (f"{root}#sub", None, "v2", second),  # without one it runs in place
    ]:
        with fetch_project(uri, version) as (folder, found):
            assert (load_spec(folder).name, found) == (name, commit), (uri, version)
    with fetch_project(f"{root}#sub", first) as (clone, _):
        assert root not in clone.parents
    assert not clone.exists()  # the clone is removed afterwards


@pytest.mark.parametrize("uri", ["repo#../etc", "repo#/abs", "repo#a/./b"])
def test_subdirectory_cannot_climb_out(uri: str):
    with pytest.raises(InvalidParameterError):
        split_uri(uri)


def test_bad_version_is_refused(repo: tuple[Path, str, str]):
    root, _, _ = repo
    with (
        pytest.raises(InvalidParameterError, match="invalid reference: no-such"),
        fetch_project(f"file://{root}", "no-such"),
    ):
        pass
    with pytest.raises(InvalidParameterError, match="Invalid version"), fetch_project(f"file://{root}", "--upload"):
        pass


def test_virtualenv_is_made_once_and_reused(tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]):
    project = tmp_path / "venv-project"
    project.mkdir()
    (project / "MLproject").write_text("entry_points: {main: {command: 'python -c \"import sys; print(sys.prefix)\"'}}")
    (project / "requirements.txt").write_text("# no dependencies: the test stays offline\n")
    spec = load_spec(project)
    venv = ensure_virtualenv(spec)
    assert venv.parent == isolated_home / "envs"
    marker = (venv / ".mltrack-ready").stat().st_mtime_ns
    assert ensure_virtualenv(spec) == venv and (venv / ".mltrack-ready").stat().st_mtime_ns == marker
    prepared = prepare(spec, ["python", "-c", "import sys; print(sys.prefix)"], "virtualenv", {})
    done = subprocess.run(prepared.argv, env={**os.environ, **prepared.env}, capture_output=True, text=True)
    assert Path(done.stdout.strip()) == venv
    with mltrack.start_run() as active:  # the whole path: the entry point runs with the venv's python
        execute(spec, "main", {}, run_id=active.info.run_id, env_manager="virtualenv")
    assert mltrack.get_run(active.info.run_id).data.tags["mlflow.project.env"] == "virtualenv"
    assert str(venv) in capsys.readouterr().out


def test_conda_and_docker_say_what_to_do_when_absent(demo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    (demo / "conda.yaml").write_text("name: x\n")
    spec = load_spec(demo)
    with pytest.raises(ProjectEnvironmentError, match=r"conda is not installed.*--env-manager"):
        prepare(spec, ["python", "child.py"], "conda", {})
    docker_project = demo.parent / "docker"
    docker_project.mkdir()
    (docker_project / "MLproject").write_text("docker_env: {image: 'img:1'}\nentry_points: {main: {command: 'x'}}")
    with pytest.raises(ProjectEnvironmentError) as info:
        prepare(load_spec(docker_project), ["python", "t.py"], "docker", {"MLTRACK_RUN_ID": "r1"})
    assert "docker run --rm" in info.value.message and "-e MLTRACK_RUN_ID=r1 img:1 python t.py" in info.value.message
    with pytest.raises(InvalidParameterError, match="Unknown env manager"):
        prepare(spec, [], "pixi", {})
    assert sys.executable  # the local manager needs nothing installed


def test_path_parameters_are_resolved_and_downloaded(tmp_path: Path):
    import http.server

    from prefect_mltrack.projects.run import resolve_path

    assert resolve_path("file:///data/x.csv", tmp_path) == "/data/x.csv"
    assert resolve_path("rel/x.csv", tmp_path) == os.path.abspath("rel/x.csv")
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.csv").write_text("a,b\n1,2\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.csv"
        local = resolve_path(url, tmp_path / "param_0")
    finally:
        server.shutdown()
    assert Path(local) == tmp_path / "param_0" / "data.csv" and Path(local).read_text() == "a,b\n1,2\n"
