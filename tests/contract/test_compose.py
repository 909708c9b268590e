"""Contract tests for docker-compose.yml and docker/: the production stack, checked without Docker.

They parse the files as Compose would (YAML anchors and merge keys, `${VAR:-default}` interpolation
with an empty environment) and check what must not drift: the Airflow version, the mounts, the
executor and databases, the SFTP host-key pinning, and that no private key is committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_DIR = ROOT / "docker"
POSTGRES_INIT_DIR = DOCKER_DIR / "postgres-init"
SFTP_KEYS_DIR = DOCKER_DIR / "sftp" / "keys"
SECRETS_DIR = DOCKER_DIR / "secrets"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
LONG_RUNNING_AIRFLOW_SERVICES = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
ALL_SERVICES = ("postgres", "sftp", *AIRFLOW_SERVICES)
PROJECT_MOUNTS = {
    "dags": "/opt/airflow/dags",
    "plugins": "/opt/airflow/plugins",
    "expectations": "/opt/airflow/expectations",
    "mappings": "/opt/airflow/mappings",
    "schemas": "/opt/airflow/schemas",  # the buyer's DDL, read by the load stage
}
REQUIRED_PLACEHOLDER = "REQUIRED-VALUE"

# $$ (a literal $), ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, $NAME
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Resolve Compose variables as `docker compose` would with `env` as the environment."""
    env = env or {}

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        is_set = name in env and (env[name] != "" or not op.startswith(":"))
        if op.endswith("+"):
            return arg if is_set else ""
        if is_set:
            return env[name]
        if op.endswith("-"):
            return arg
        if op.endswith("?"):
            return REQUIRED_PLACEHOLDER
        return ""

    return _INTERPOLATION.sub(resolve, text)


@cache
def compose() -> dict:
    """docker-compose.yml as a mapping, anchors and `<<` merges resolved by the YAML loader."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict:
    return compose()["services"][name]


def environment(name: str) -> dict[str, str]:
    """A service's environment, list or mapping form, with variables resolved from an empty env."""
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def volume_mounts(name: str) -> list[tuple[str, str]]:
    """(source, target) for each volume of a service, short or long syntax, variables resolved."""
    mounts = []
    for volume in service(name).get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((interpolate(str(volume.get("source", ""))), str(volume["target"])))
        else:
            source, target = interpolate(volume).split(":")[:2]
            mounts.append((source, target))
    return mounts


def depends_on(name: str) -> dict[str, str]:
    """A service's dependencies and their conditions (the list form means service_started)."""
    deps = service(name).get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {dep: (spec or {}).get("condition", "service_started") for dep, spec in deps.items()}


def base_images(name: str) -> list[str]:
    """The image(s) a service runs on: its Dockerfile's FROM images if it builds, else `image`."""
    spec = service(name)
    build = spec.get("build")
    if build is None:
        return [interpolate(spec["image"])]
    if isinstance(build, str):
        build = {"context": build}
    context = ROOT / interpolate(build.get("context", "."))
    dockerfile = context / interpolate(build.get("dockerfile", "Dockerfile"))
    return dockerfile_from_images(dockerfile)


def dockerfile_from_images(dockerfile: Path) -> list[str]:
    """The images named by FROM lines (an `ARG` default substituted), `--platform` skipped."""
    args: dict[str, str] = {}
    images = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "ARG" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            args.setdefault(key, value.strip("\"'"))
        elif len(words) >= 2 and words[0].upper() == "FROM":
            image = next(w for w in words[1:] if not w.startswith("--"))
            images.append(interpolate(image, args))
    return images


def dockerfile_copy_sources(dockerfile: Path) -> list[str]:
    """Build-context sources of the COPY/ADD lines (`--from=` stages skipped)."""
    sources = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0].upper() not in {"COPY", "ADD"}:
            continue
        rest = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources.extend(rest[:-1])
    return sources


def committable_files(*paths: Path) -> list[Path]:
    """Files under `paths` that git would commit (tracked, or untracked and not ignored).

    Outside a git work tree every file is scanned.
    """
    if shutil.which("git") and (ROOT / ".git").exists():
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *map(str, paths)],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [ROOT / name for name in sorted(set(listing.split("\0"))) if name and (ROOT / name).is_file()]
    files: list[Path] = []
    for path in paths:
        files.extend([path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()))
    return files


def test_all_services_present():
    """Postgres, the SFTP drop and the five Airflow services are defined."""
    missing = set(ALL_SERVICES) - set(compose()["services"])
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_airflow_services_run_the_installed_airflow_version():
    """Every Airflow service is built FROM apache/airflow:<installed apache-airflow version>-pythonX.Y.

    Bumping apache-airflow without the image fails here.
    """
    installed = importlib.metadata.version("apache-airflow")
    for name in AIRFLOW_SERVICES:
        images = base_images(name)
        assert images, f"{name}: no base image found"
        for image in images:
            match = re.fullmatch(r"(?:docker\.io/)?apache/airflow:(?P<version>[^-@]+)-python\d+\.\d+", image)
            assert match, f"{name}: base image {image!r} is not a pinned apache/airflow:<version>-pythonX.Y tag"
            assert match["version"] == installed, f"{name}: image {image} but apache-airflow {installed} is installed"


def test_dockerfile_installs_the_project_with_constraints():
    """docker/Dockerfile pip-installs the project with -c constraints.txt, and what it copies exists."""
    dockerfile = DOCKER_DIR / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"pip install\b[^\n]*(?:\\\n[^\n]*)*-c \S*constraints\.txt", text), (
        "the Dockerfile must install the project with its constraints file"
    )
    for source in dockerfile_copy_sources(dockerfile):
        assert (ROOT / source).exists(), f"docker/Dockerfile copies {source}, which is not in the repository"


def test_constraints_pin_the_installed_airflow():
    """constraints.txt (what the image installs with) pins apache-airflow to the installed version."""
    constraints = ROOT / "constraints.txt"
    installed = importlib.metadata.version("apache-airflow")
    pins = re.findall(r"(?im)^apache-airflow==([^\s;#]+)", constraints.read_text(encoding="utf-8"))
    assert pins == [installed], f"constraints.txt pins apache-airflow {pins}, not [{installed}]"


def test_airflow_services_mount_the_project_folders():
    """dags, plugins, expectations, mappings, schemas are mounted from the repo at /opt/airflow/<name>."""
    for name in AIRFLOW_SERVICES:
        mounts = dict((target, source) for source, target in volume_mounts(name))
        for folder, target in PROJECT_MOUNTS.items():
            assert target in mounts, f"{name}: nothing mounted at {target}"
            assert Path(mounts[target]).name == folder and mounts[target].startswith("./"), (
                f"{name}: {target} is mounted from {mounts[target]}, not ./{folder}"
            )
        assert "/opt/airflow/reports" in mounts, f"{name}: no reports folder at /opt/airflow/reports"


def test_services_that_override_volumes_keep_the_common_ones():
    """A service that lists its own volumes (YAML cannot merge lists) repeats every common mount."""
    common = {interpolate(v) for v in compose()["x-airflow-common"]["volumes"]}
    for name in AIRFLOW_SERVICES:
        own = {interpolate(v) for v in service(name)["volumes"] if isinstance(v, str)}
        assert common <= own, f"{name} lacks common mounts {sorted(common - own)}"


def test_airflow_environment():
    """BOOKTRANSFER_HOME is the container project root, plugins is importable, no example DAGs,
    and every component shares one JWT secret (else the API server rejects the scheduler's tokens)."""
    for name in AIRFLOW_SERVICES:
        env = environment(name)
        assert env.get("BOOKTRANSFER_HOME") == "/opt/airflow", name
        assert "/opt/airflow/plugins" in env.get("PYTHONPATH", "").split(":"), name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
        assert env.get("AIRFLOW__API_AUTH__JWT_SECRET"), f"{name}: AIRFLOW__API_AUTH__JWT_SECRET not set"
        assert env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "").startswith("http://airflow-apiserver:8080/"), name


def test_executor_is_local_and_metadata_db_is_the_postgres_service():
    """LocalExecutor everywhere, metadata DB = database `airflow` on the `postgres` service."""
    postgres_env = environment("postgres")
    assert postgres_env.get("POSTGRES_DB") == "airflow"
    for name in AIRFLOW_SERVICES:
        env = environment(name)
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "LocalExecutor", name
        url = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert url.scheme in {"postgresql+psycopg2", "postgresql+psycopg"}, f"{name}: {url.scheme}"
        assert url.hostname == "postgres", f"{name}: metadata DB host {url.hostname}"
        assert url.path == "/airflow", f"{name}: metadata DB {url.path}"
        assert url.username == postgres_env.get("POSTGRES_USER"), name


def test_postgres_init_script_creates_the_buyer_database():
    """docker/postgres-init is the postgres entrypoint's init dir and creates database `buyer`,
    which the buyer_db connection points at."""
    mounts = dict((target, source) for source, target in volume_mounts("postgres"))
    assert Path(mounts.get("/docker-entrypoint-initdb.d", "")).resolve() == POSTGRES_INIT_DIR.resolve()
    assert any(target == "/var/lib/postgresql/data" for target in mounts), "postgres data is not on a volume"
    assert compose()["volumes"] and mounts["/var/lib/postgresql/data"] in compose()["volumes"]

    scripts = [p for p in POSTGRES_INIT_DIR.iterdir() if p.suffix in {".sh", ".sql"}]
    creates_buyer = re.compile(r'(?i)\bCREATE\s+DATABASE\s+"?buyer"?[\s;]')
    assert any(creates_buyer.search(p.read_text(encoding="utf-8")) for p in scripts), (
        "no script in docker/postgres-init creates the buyer database"
    )

    for name in LONG_RUNNING_AIRFLOW_SERVICES:
        url = urlsplit(environment(name)["AIRFLOW_CONN_BUYER_DB"])
        assert url.scheme in {"postgres", "postgresql"}, f"{name}: buyer_db scheme {url.scheme}"
        assert (url.hostname, url.path) == ("postgres", "/buyer"), f"{name}: buyer_db -> {url.hostname}{url.path}"


def test_sftp_connection_pins_the_host_key():
    """seller_sftp logs in as `seller` with a key file and a pinned host key; the host key check is
    explicitly on (`no_host_key_check` false) and host key changes are not allowed."""
    for name in LONG_RUNNING_AIRFLOW_SERVICES:
        conn = json.loads(environment(name)["AIRFLOW_CONN_SELLER_SFTP"])
        extra = conn["extra"] if isinstance(conn["extra"], dict) else json.loads(conn["extra"])
        assert conn["conn_type"] == "sftp" and conn["host"] == "sftp" and conn["login"] == "seller", name
        assert "password" not in conn, f"{name}: seller_sftp must log in by key"
        assert "no_host_key_check" in extra, f"{name}: no_host_key_check must be set (its default is true)"
        assert str(extra["no_host_key_check"]).lower() == "false", f"{name}: host key check disabled"
        assert str(extra.get("allow_host_key_change", False)).lower() == "false", name
        assert extra.get("host_key"), f"{name}: no pinned host_key"
        assert extra.get("key_file"), f"{name}: no key_file"


def test_sftp_connection_is_understood_by_the_installed_provider(monkeypatch):
    """The installed SFTP provider reads seller_sftp as meant: key file, pinned ed25519 host key, host
    key check on; and buyer_db as a postgres connection to database `buyer`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    host_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    raw_env = service("airflow-scheduler")["environment"]
    dotenv = {"SELLER_SFTP_HOST_KEY": host_key.decode()}
    monkeypatch.setenv("AIRFLOW_CONN_SELLER_SFTP", interpolate(raw_env["AIRFLOW_CONN_SELLER_SFTP"], dotenv))
    monkeypatch.setenv("AIRFLOW_CONN_BUYER_DB", interpolate(raw_env["AIRFLOW_CONN_BUYER_DB"]))

    from airflow.providers.sftp.hooks.sftp import SFTPHook
    from airflow.sdk import BaseHook

    hook = SFTPHook(ssh_conn_id="seller_sftp")
    assert (hook.remote_host, hook.port, hook.username) == ("sftp", 22, "seller")
    assert hook.key_file == "/run/secrets/seller_sftp_client_key"
    assert hook.no_host_key_check is False
    assert hook.allow_host_key_change is False
    assert hook.host_key is not None and hook.host_key.get_name() == "ssh-ed25519"

    buyer = BaseHook.get_connection("buyer_db")
    assert (buyer.conn_type, buyer.host, buyer.schema, buyer.login) == ("postgres", "postgres", "buyer", "buyer")


def test_sftp_client_key_is_mounted_where_tasks_run():
    """The key_file of seller_sftp is a secret mounted into the scheduler (LocalExecutor tasks) and
    the triggerer, from a file the operator provides."""
    conn = json.loads(environment("airflow-scheduler")["AIRFLOW_CONN_SELLER_SFTP"])
    key_file = conn["extra"]["key_file"]
    assert key_file.startswith("/run/secrets/")
    secret = key_file.removeprefix("/run/secrets/")
    assert "file" in compose()["secrets"][secret]
    for name in ("airflow-scheduler", "airflow-triggerer"):
        attached = [s if isinstance(s, str) else s["source"] for s in service(name).get("secrets", [])]
        assert secret in attached, f"{name}: secret {secret} not attached"


def test_keyring_is_a_secret_of_the_task_runner():
    """The protect stage's keyring reaches the scheduler (where LocalExecutor runs tasks) as a secret
    from an operator-provided file, and BOOKTRANSFER_KEYRING points at it."""
    keyring = environment("airflow-scheduler")["BOOKTRANSFER_KEYRING"]
    assert keyring.startswith("/run/secrets/")
    secret = keyring.removeprefix("/run/secrets/")
    assert "file" in compose()["secrets"][secret]
    attached = [s if isinstance(s, str) else s["source"] for s in service("airflow-scheduler").get("secrets", [])]
    assert secret in attached
    assert "BOOKTRANSFER_KEYRING_JSON" not in environment("airflow-scheduler"), "keys must not sit in the env"


def test_sftp_server_is_key_only_with_an_operator_host_key():
    """The SFTP server takes its host key from a mounted file, logs in `seller` by public key only,
    and keeps the drop folder on a volume."""
    mounts = dict((target, source) for source, target in volume_mounts("sftp"))
    assert "/etc/ssh/ssh_host_ed25519_key" in mounts
    assert any(t.startswith("/home/seller/.ssh/keys/") for t in mounts), "no authorized key for seller"
    assert mounts.get("/home/seller/drop") in compose()["volumes"], "the drop folder is not a named volume"

    users = service("sftp")["command"]
    users = [users] if isinstance(users, str) else users
    assert any(re.fullmatch(r"seller::\d+:\d+:drop", u) for u in users), f"seller must have no password: {users}"

    sshd_config = Path(ROOT / mounts["/etc/ssh/sshd_config"]).read_text(encoding="utf-8")
    settings = {
        line.split()[0].lower(): line.split(None, 1)[1].strip()
        for line in sshd_config.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert settings.get("passwordauthentication") == "no"
    assert settings.get("authenticationmethods") == "publickey"
    assert settings.get("hostkey") == "/etc/ssh/ssh_host_ed25519_key"


def test_no_private_key_material_in_compose_or_docker_dir():
    """Nothing committable in docker-compose.yml or docker/ holds a PEM/OpenSSH private key."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in committable_files(COMPOSE_FILE, DOCKER_DIR)
        if b"-----BEGIN" in path.read_bytes()
    ]
    assert not offenders, f"private key material in: {offenders}"


def test_generated_keys_are_git_ignored():
    """Keys the operator generates into docker/sftp/keys/ and docker/secrets/ are ignored by git."""
    generated = {
        SFTP_KEYS_DIR: ("ssh_host_ed25519_key", "seller_ed25519", "seller_ed25519.pub"),
        SECRETS_DIR: ("keyring.json",),
    }
    for folder in generated:
        assert "*" in (folder / ".gitignore").read_text(encoding="utf-8").split(), f"{folder}/.gitignore"
    if shutil.which("git") and (ROOT / ".git").exists():
        for folder, names in generated.items():
            for key in names:
                path = (folder / key).relative_to(ROOT)
                result = subprocess.run(["git", "check-ignore", "--no-index", "-q", str(path)], cwd=ROOT, check=False)
                assert result.returncode == 0, f"{path} would not be ignored by git"


def test_secrets_come_from_variables():
    """Passwords, secrets and keys in any environment are `${VAR...}` references, never literals."""
    secretish = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$")
    for name, spec in compose()["services"].items():
        env = spec.get("environment") or {}
        for key, value in env.items() if isinstance(env, dict) else ():
            if secretish.search(key):
                assert "${" in str(value), f"{name}: {key} is a literal, read it from .env"
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_BUYER_DB"):
            if isinstance(env, dict) and key in env:
                assert "${" in urlsplit(str(env[key])).netloc, f"{name}: password in {key} is a literal"


def test_every_depends_on_target_exists():
    """Every depends_on names a defined service with a valid condition."""
    services = compose()["services"]
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name in services:
        for dep, condition in depends_on(name).items():
            assert dep in services, f"{name} depends on undefined service {dep}"
            assert dep != name, f"{name} depends on itself"
            assert condition in conditions, f"{name} -> {dep}: unknown condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} healthy, which has no healthcheck"


def test_startup_order_and_healthchecks():
    """airflow-init runs `airflow db migrate` once after postgres is healthy; the other Airflow
    services wait for it to complete, and every long-running service has a healthcheck."""
    init = service("airflow-init")
    init_command = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "airflow db migrate" in init_command
    assert init.get("restart", "no") == "no"
    assert depends_on("airflow-init").get("postgres") == "service_healthy"
    for name in LONG_RUNNING_AIRFLOW_SERVICES:
        deps = depends_on(name)
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("airflow-init") == "service_completed_successfully", name
    for name in ("postgres", "sftp", *LONG_RUNNING_AIRFLOW_SERVICES):
        assert service(name).get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    apiserver = service("airflow-apiserver")
    assert "api-server" in apiserver["command"]
    assert any(str(port).endswith(":8080") for port in apiserver["ports"])
