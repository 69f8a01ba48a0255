"""Static checks of the Docker artefacts: Dockerfile, .dockerignore, docker-compose.yml.

No Docker engine is needed: the compose file is resolved by the real Compose
binary (`docker-compose config`, so anchors and merges are resolved exactly as
`docker compose up` would), the Dockerfile is linted by hadolint and parsed
here. The services and their commands are compared with scripts/stack.py's
SERVICES, so `make run` and `docker compose up` cannot drift apart.
"""
import ast
import importlib.util
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONFIG = "config/config.yml"
INFRASTRUCTURE = ("rabbitmq", "mongo")


def _load_services():
    spec = importlib.util.spec_from_file_location("_stack_for_deploy_tests", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SERVICES


SERVICES = _load_services()
SERVICE_NAMES = [name for name, _ in SERVICES]
DATABASE_SERVICES = [name for name in SERVICE_NAMES if name != "gateway"]


def nameko_command(module):
    return ["nameko", "run", "--config", CONFIG, module]


# Settings the compose file takes from the shell running it.
FROM_THE_SHELL = ("GATEWAY_API_KEYS", "GATEWAY_AUTH_READS")


def run_tool(name, *args, environment=None):
    # COMPOSE_* variables (and the settings above) of whoever runs the tests must not change the result.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("COMPOSE_") and key not in FROM_THE_SHELL}
    env.update(environment or {})
    return subprocess.run(
        [str(BIN / name), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


# compose


@pytest.fixture(scope="module")
def compose_run():
    return run_tool("docker-compose", "-f", str(COMPOSE_FILE), "config", "--format", "json")


@pytest.fixture(scope="module")
def compose(compose_run):
    assert compose_run.returncode == 0, compose_run.stderr
    return json.loads(compose_run.stdout)


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def test_compose_config_is_valid(compose_run):
    assert compose_run.returncode == 0, compose_run.stderr
    config = json.loads(compose_run.stdout)
    assert config["services"], "no services"


def test_compose_services_and_commands_match_stack(services):
    in_compose = {
        name: service.get("command")
        for name, service in services.items()
        if name not in INFRASTRUCTURE
    }
    in_stack = {name: nameko_command(module) for name, module in SERVICES}
    assert in_compose == in_stack


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_app_service_is_built_restarted_and_waits_for_infrastructure(services, name):
    service = services[name]
    assert Path(service["build"]["context"]) == ROOT
    assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert service.get("restart") == "unless-stopped"
    depends_on = service.get("depends_on", {})
    for dependency in INFRASTRUCTURE:
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", dependency
    assert service.get("environment", {}).get("AMQP_URI", "").startswith("pyamqp://"), "AMQP_URI"
    assert "@rabbitmq:" in service["environment"]["AMQP_URI"], "AMQP_URI must point at the rabbitmq service"


def test_app_services_share_one_image(services):
    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in SERVICE_NAMES}
    images = {services[name].get("image") for name in SERVICE_NAMES}
    assert len(builds) == 1, builds
    assert len(images) == 1 and None not in images, images


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_database_service_has_its_own_mongodb_url(services, name):
    # Resolved: the URL reaches the service and points at the mongo service.
    url = services[name].get("environment", {}).get("MONGODB_CONNECTION_URL", "")
    assert url.startswith("mongodb://mongo:"), url
    # Declared in the service itself, not inherited from a shared anchor, so
    # each service's database can be moved on its own.
    raw = yaml.compose(COMPOSE_FILE.read_text())
    service_node = _mapping_value(_mapping_value(raw, "services"), name)
    environment_node = _mapping_value(service_node, "environment")
    assert _mapping_value(environment_node, "MONGODB_CONNECTION_URL") is not None


def _mapping_value(node, key):
    """The value node under ``key`` declared directly in a YAML mapping node (not via ``<<``)."""
    assert isinstance(node, yaml.MappingNode), node
    for key_node, value_node in node.value:
        if key_node.value == key:
            return value_node
    return None


def test_only_the_gateway_publishes_a_port(services):
    publishing = sorted(name for name, service in services.items() if service.get("ports"))
    assert publishing == ["gateway"]


def test_gateway_listens_on_every_interface_at_the_published_port(services):
    gateway = services["gateway"]
    host, _, port = gateway["environment"]["WEB_SERVER_ADDRESS"].rpartition(":")
    assert host == "0.0.0.0"
    assert [int(p["target"]) for p in gateway["ports"]] == [int(port)]


def test_the_gateway_has_no_api_keys_unless_the_shell_sets_them(services):
    assert {name: services["gateway"]["environment"][name] for name in FROM_THE_SHELL} == {
        "GATEWAY_API_KEYS": "", "GATEWAY_AUTH_READS": "false",
    }
    settings = {"GATEWAY_API_KEYS": "key-1,key-2", "GATEWAY_AUTH_READS": "true"}
    run = run_tool("docker-compose", "-f", str(COMPOSE_FILE), "config", "--format", "json", environment=settings)
    assert run.returncode == 0, run.stderr
    environment = json.loads(run.stdout)["services"]["gateway"]["environment"]
    assert {name: environment[name] for name in FROM_THE_SHELL} == settings
    # only the gateway checks keys
    assert not [name for name in DATABASE_SERVICES if set(FROM_THE_SHELL) & set(services[name]["environment"])]


HEALTHCHECKS = {
    "rabbitmq": ["rabbitmq-diagnostics", "-q", "ping"],
    "mongo": ["mongosh", "--quiet", "--eval", "db.runCommand({ping:1})"],
}
DATA_DIRS = {"rabbitmq": "/var/lib/rabbitmq", "mongo": "/data/db"}


@pytest.mark.parametrize("name", INFRASTRUCTURE)
def test_infrastructure_has_healthcheck_and_named_volume(compose, name):
    service = compose["services"][name]
    kind, *command = service["healthcheck"]["test"]
    if kind == "CMD-SHELL":
        command = shlex.split(command[0])
    else:
        assert kind == "CMD", kind
    assert command == HEALTHCHECKS[name]
    assert not service["healthcheck"].get("disable", False)
    mounts = {
        volume["target"]: volume["source"]
        for volume in service.get("volumes", []) if volume["type"] == "volume"
    }
    assert mounts.get(DATA_DIRS[name]) in compose.get("volumes", {}), mounts


def test_infrastructure_images(services):
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    image = services["mongo"]["image"]
    assert image == "mongo" or image.startswith("mongo:"), image


# Dockerfile


def dockerfile_instructions():
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    assert not current, "Dockerfile ends inside a continued instruction"
    return instructions


def stages():
    result = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            result.append([])
        assert result, "instruction before FROM"
        result[-1].append(instruction)
    return result


def split_arguments(arguments):
    """Arguments of an instruction in exec (JSON) or shell form."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def test_hadolint_finds_nothing():
    result = run_tool("hadolint", "--no-color", "--failure-threshold", "info", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_image_is_multi_stage_on_python_311_slim():
    all_stages = stages()
    assert len(all_stages) >= 2, "a build stage and a runtime stage"
    named = {}
    for stage in all_stages:
        words = stage[0][1].split()
        base = words[0]
        if base not in named:
            repository, _, tag = base.partition(":")
            assert repository == "python", base
            assert tag.startswith("3.11") and "-slim" in tag, base
        if len(words) == 3 and words[1].upper() == "AS":
            named[words[2]] = stage
    # The final stage takes the installed packages from an earlier stage that
    # installs them, and installs nothing itself: pip's leftovers stay behind.
    final = all_stages[-1]
    sources = [
        argument.split("=", 1)[1]
        for keyword, arguments in final if keyword in ("COPY", "ADD")
        for argument in split_arguments(arguments) if argument.startswith("--from=")
    ]
    assert any(
        any(k == "RUN" and "pip install" in a for k, a in named.get(source, []))
        for source in sources
    ), f"the final stage copies from no stage that runs pip install: {sources}"
    assert not any(k == "RUN" and "pip" in a for k, a in final), "the final stage runs pip"


def test_dockerfile_installs_runtime_requirements_only():
    text = DOCKERFILE.read_text()
    assert "secantus" not in text.lower()
    instructions = dockerfile_instructions()
    assert not [i for i in instructions if "requirements-dev" in i[1]], "requirements-dev.txt is used"
    copied = [
        split_arguments(arguments)
        for keyword, arguments in instructions if keyword in ("COPY", "ADD")
    ]
    requirements_copied = [
        args for args in copied if "requirements.txt" in [a for a in args[:-1] if not a.startswith("--")]
    ]
    assert requirements_copied, "requirements.txt is not copied"
    installs = [
        arguments for keyword, arguments in instructions
        if keyword == "RUN" and "pip install" in arguments
    ]
    assert installs, "no pip install"
    for arguments in installs:
        words = shlex.split(arguments)
        files = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-r", "--requirement")]
        assert files, f"pip install without -r requirements.txt: {arguments}"
        assert all(posixpath.basename(f) == "requirements.txt" for f in files), files


def test_runtime_requirements_are_pinned_and_free_of_dev_tools():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        assert "==" in requirement, f"not pinned: {requirement}"
        name = requirement.split("==")[0].strip().lower()
        assert not name.startswith(("pytest", "secantus")), requirement
        assert not requirement.startswith("-r"), requirement


def test_final_stage_runs_as_a_non_root_user():
    users = [arguments for keyword, arguments in stages()[-1] if keyword == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0"), users[-1]
    assert group not in ("root", "0"), users[-1]


def test_dockerignore_keeps_local_state_and_tests_out():
    patterns = {
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".run", ".git", "tests"):
        assert required in patterns or f"**/{required}" in patterns, required
    for source, _ in image_files():
        assert source.relative_to(ROOT).parts[0] not in patterns, f"{source} is copied but ignored"


def image_files():
    """(file in the repository, its path in the image) for what the final stage copies."""
    files, workdir = [], "/"
    for keyword, arguments in stages()[-1]:
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, arguments)
        if keyword not in ("COPY", "ADD"):
            continue
        args = split_arguments(arguments)
        if any(a.startswith("--from") for a in args):
            continue  # from another stage, not from the repository
        *sources, destination = [a for a in args if not a.startswith("--")]
        destination = posixpath.join(workdir, destination)
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file or directory"
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                        files.append((file, posixpath.join(destination, file.relative_to(path).as_posix())))
            elif destination.endswith("/") or len(sources) > 1:
                files.append((path, posixpath.join(destination, path.name)))
            else:
                files.append((path, destination))
    return files


def final_workdir():
    workdir = "/"
    for keyword, arguments in stages()[-1]:
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, arguments)
    return workdir


def in_image():
    return {posixpath.normpath(target) for _, target in image_files()}


def module_files(module):
    path = posixpath.join(final_workdir(), *module.split("."))
    return {path + ".py", posixpath.join(path, "__init__.py")}


def test_every_copied_path_exists():
    assert image_files(), "the final stage copies nothing from the repository"


@pytest.mark.parametrize("name, module", SERVICES)
def test_every_service_module_and_the_config_are_in_the_image(name, module):
    files = in_image()
    assert module_files(module) & files, f"{module} ({name}) is not copied into the image"
    package = module.split(".")[0]
    assert posixpath.join(final_workdir(), package, "__init__.py") in files, package
    assert posixpath.join(final_workdir(), CONFIG) in files, CONFIG


def test_default_command_is_one_of_the_services():
    commands = [arguments for keyword, arguments in stages()[-1] if keyword == "CMD"]
    assert commands
    assert split_arguments(commands[-1]) in [nameko_command(module) for _, module in SERVICES]


def test_local_packages_imported_by_the_image_are_copied():
    files = in_image()
    local = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    local |= {path.stem for path in ROOT.glob("*.py")}
    # The config names logging factories and filters by dotted path: `(): pkg.mod.Name`.
    for factory in re.findall(r"\(\):\s*([\w.]+)", (ROOT / CONFIG).read_text()):
        top = factory.split(".")[0]
        if top in local:
            assert module_files(top) & files, f"{CONFIG} uses {factory}, not copied"
    for source, _ in image_files():
        if source.suffix != ".py":
            continue
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in local:
                    assert module_files(top) & files, f"{source.relative_to(ROOT)} imports {name}, not copied"
