"""compose.yaml and the Dockerfile, checked without Docker: the file's shape, and that every
`mdm …` command a service runs is one the real CLI accepts."""
from __future__ import annotations

import importlib.util
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mdm.cli.hub import Role
from mdm.config.loader import PROJECT_FOLDERS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
HUB_SERVICES = ("capture", "process", "propagate", "api")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


@cache
def cli() -> typer.Typer:
    from mdm.cli.main import _register, app

    _register()
    return app


def _argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _image_entrypoint() -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert match, "Dockerfile has no exec-form ENTRYPOINT"
    return [str(v) for v in yaml.safe_load(match.group(1))]


def _runs_hub_image(service: dict[str, Any]) -> bool:
    return "build" in service


def mdm_invocations() -> list[tuple[str, list[str]]]:
    """(service, argv after `mdm`) for everything in compose.yaml that runs `mdm`."""
    found: list[tuple[str, list[str]]] = []
    for name, svc in services().items():
        entrypoint = _argv(svc.get("entrypoint"))
        if not entrypoint and _runs_hub_image(svc):
            entrypoint = _image_entrypoint()
        argv = entrypoint + _argv(svc.get("command"))
        if argv and Path(argv[0]).name == "mdm":
            found.append((name, argv[1:]))
        test = _argv((svc.get("healthcheck") or {}).get("test"))
        if test[:1] in (["CMD"], ["CMD-SHELL"]):
            test = test[1:] if test[0] == "CMD" else shlex.split(" ".join(test[1:]))
        if test and Path(test[0]).name == "mdm":
            found.append((f"{name} healthcheck", test[1:]))
    return found


def python_modules() -> list[tuple[str, str]]:
    """(service, module) for every `python -m MODULE` a service runs."""
    found = []
    for name, svc in services().items():
        argv = _argv(svc.get("entrypoint")) + _argv(svc.get("command"))
        if argv and Path(argv[0]).name.startswith("python") and "-m" in argv:
            found.append((name, argv[argv.index("-m") + 1]))
    return found


# -- shape ---------------------------------------------------------------------------------------


def test_compose_parses_without_version_key() -> None:
    assert "version" not in compose()
    assert isinstance(compose()["services"], dict)


def test_has_the_services() -> None:
    for name in ("erp-db", "hub-db", *HUB_SERVICES):
        assert name in services(), f"compose.yaml has no service {name!r}"


def test_erp_db_decodes_logically() -> None:
    erp = services()["erp-db"]
    assert str(erp["image"]).startswith("postgres:")
    command = _argv(erp["command"])
    assert "wal_level=logical" in command
    assert command[command.index("wal_level=logical") - 1] == "-c"
    assert "pg_isready" in _argv(erp["healthcheck"]["test"])


def test_databases_have_volumes_and_healthchecks() -> None:
    for name, svc in services().items():
        if str(svc.get("image", "")).startswith("postgres:"):
            assert svc.get("volumes"), f"{name} keeps its data in no volume"
            assert "pg_isready" in _argv(svc["healthcheck"]["test"]), name


def test_hub_services_share_one_image() -> None:
    shapes = {(repr(services()[n].get("build")), services()[n].get("image")) for n in HUB_SERVICES}
    assert len(shapes) == 1, shapes
    assert services()["capture"].get("build") is not None


def test_hub_services_run_their_role() -> None:
    for name in HUB_SERVICES:
        assert _argv(services()[name].get("command")) == ["run", name]


def test_dockerfile_runs_mdm_as_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert _image_entrypoint() == ["mdm"]
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")


def test_the_image_holds_every_project_folder() -> None:
    """In the build stage (the wheel's starter project links to them) and as /project."""
    text = DOCKERFILE.read_text()
    for folder in PROJECT_FOLDERS:
        assert f"COPY {folder} ./{folder}" in text, folder
        assert f"COPY {folder} /project/{folder}" in text, folder


def test_api_listens_on_all_interfaces_and_is_published() -> None:
    api = services()["api"]
    assert _env(api).get("MDM_API_HOST") == "0.0.0.0"
    assert any(str(p).endswith("8700:8700") for p in api["ports"])
    assert "/healthz" in " ".join(_argv(api["healthcheck"]["test"]))


def test_capture_keeps_its_offsets_in_a_volume() -> None:
    capture = services()["capture"]
    state = _env(capture)["MDM_STATE_DIR"]
    named = compose().get("volumes") or {}
    mounts = [str(v).split(":") for v in capture["volumes"]]
    assert any(m[1] == state and m[0] in named for m in mounts), mounts


def test_hub_services_mount_the_project() -> None:
    for name in HUB_SERVICES:
        svc = services()[name]
        project = _env(svc)["MDM_PROJECT_DIR"]
        mounts = {str(v).split(":")[1]: str(v) for v in svc["volumes"]}
        for folder in PROJECT_FOLDERS:
            assert f"{project}/{folder}" in mounts, f"{name} does not mount {folder}/"
            assert mounts[f"{project}/{folder}"].endswith(":ro")


def test_bind_mount_sources_exist() -> None:
    for name, svc in services().items():
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_depends_on_names_real_services() -> None:
    for name, svc in services().items():
        depends = svc.get("depends_on") or {}
        for other in depends:
            assert other in services(), f"{name} depends on unknown {other}"
            if isinstance(depends, dict):
                condition = depends[other].get("condition")
                if condition == "service_healthy":
                    assert "healthcheck" in services()[other], f"{other} has no healthcheck"


# -- the commands are real -----------------------------------------------------------------------


def test_hub_services_invoke_mdm() -> None:
    invoked = {name for name, _ in mdm_invocations()}
    assert set(HUB_SERVICES) <= invoked


@pytest.mark.parametrize("service,args", mdm_invocations(), ids=lambda v: str(v))
def test_mdm_command_exists(service: str, args: list[str]) -> None:
    app = cli()
    root = typer.main.get_command(app)
    # Walk the subcommands; whatever follows the last one is its arguments.
    command: Any = root
    path: list[str] = []
    rest = list(args)
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        sub = command.get_command(typer.Context(command), rest[0])
        assert sub is not None, f"{service}: `mdm {' '.join(args)}`: no subcommand {rest[0]!r}"
        command, path = sub, [*path, rest.pop(0)]
    assert path, f"{service}: `mdm {' '.join(args)}` names no subcommand"

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"Usage: mdm {' '.join(path)}" in flat, flat[:300]
    first = (command.help or "").split("\n\n")[0].replace("`", "")  # markdown: `code` shown plain
    assert " ".join(first.split()) in flat

    # `--help` is eager and would hide a bad argument: parse the arguments for real
    # (types, choices, options) without running the command.
    ctx = command.make_context(f"mdm {' '.join(path)}", list(rest), parent=typer.Context(root))
    assert ctx.params is not None
    if path == ["run"]:
        assert rest and rest[0] in {r.value for r in Role}, f"{service}: bad role {rest[:1]}"


def test_bad_role_would_be_caught() -> None:
    root: Any = typer.main.get_command(cli())
    command = root.get_command(typer.Context(root), "run")
    assert command is not None
    with pytest.raises(typer.BadParameter):
        command.make_context("mdm run", ["captur"])


@pytest.mark.parametrize("service,module", python_modules(), ids=lambda v: str(v))
def test_python_module_resolves(service: str, module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"{service}: no module {module}"


def test_demo_targets_listen_where_the_hub_looks() -> None:
    (name, _module), = [m for m in python_modules() if m[1] == "mdm.demo.targets_main"]
    argv = _argv(services()[name].get("command"))
    oa_port, wms_port = argv[2:4]
    env = _env(services()["propagate"])
    assert env["MDM_OA_URL"] == f"http://{name}:{oa_port}"
    assert env["MDM_WMS_URL"] == f"http://{name}:{wms_port}"
    erp_port = argv[argv.index("--erp-port") + 1]
    assert env["MDM_ERP_API_URL"] == f"http://{name}:{erp_port}"


# -- environment ---------------------------------------------------------------------------------


def project_env_refs() -> set[str]:
    names: set[str] = set()
    for folder in PROJECT_FOLDERS:
        for path in sorted((ROOT / folder).glob("*.y*ml")):
            text = "\n".join(line.split(" #", 1)[0] for line in path.read_text("utf-8").splitlines())
            names.update(ENV_REF.findall(text))
    return names


def test_project_files_reference_env() -> None:
    assert {"MDM_ERP_URL", "MDM_OA_URL", "MDM_WMS_URL"} <= project_env_refs()


@pytest.mark.parametrize("service", HUB_SERVICES)
def test_hub_service_env_covers_project_refs(service: str) -> None:
    env = _env(services()[service])
    missing = (project_env_refs() | {"MDM_DATABASE_URL", "MDM_PROJECT_DIR"}) - set(env)
    assert not missing, f"{service} lacks {sorted(missing)}"
    assert all(env[name] for name in project_env_refs()), env
