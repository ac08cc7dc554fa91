#!/usr/bin/env python3
"""Offline checks of the deployment files in deploy/. Run through deploy/validate.sh, which installs the tools
(kubernetes-validate, check-jsonschema for its vendored compose-spec schema) and renders the kustomization.

Each check prints `ok` or `FAIL` with the reasons; the exit code is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
EXAMPLE = DEPLOY / "beian.example.toml"
# Environment variables that are not settings.
NOT_SETTINGS = {"BEIAN_CONFIG", "BEIAN_TEST_DATABASE_URL"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# ---- settings --------------------------------------------------------------------------------------------------

ASSIGNMENT = re.compile(r"^\s*#?\s*([a-z_][a-z0-9_]*)\s*=")
SECTION = re.compile(r"^\s*\[([a-z_][a-z0-9_]*)\]\s*(#.*)?$")


class Settings:
    """The settings beian knows, as documented in deploy/beian.example.toml: the ones set there, and the ones shown
    commented out (`# url = ...`), each with the TOML type of its example value where there is one."""

    def __init__(self, path: Path):
        text = path.read_text(encoding="utf-8")
        parsed = tomllib.loads(text)
        self.sections = {name for name, value in parsed.items() if isinstance(value, dict)}
        self.types: dict[str, type | None] = {}
        for key, value in flatten(parsed):
            self.types[key] = type(value)
        for key, line in commented_settings(text):
            if key in self.types:
                continue
            try:
                value = tomllib.loads(line.lstrip().lstrip("#").strip())[key.rsplit(".", 1)[-1]]
                self.types[key] = type(value)
            except (tomllib.TOMLDecodeError, KeyError):
                self.types[key] = None

    def check_file(self, data: dict, where: str, text: str = "") -> list[str]:
        problems = []
        for section, value in data.items():
            if isinstance(value, dict) and section not in self.sections:
                problems.append(f"{where}: unknown section [{section}]")
        for key, value in flatten(data):
            if "." in key and key.split(".")[0] not in self.sections:
                continue
            if key not in self.types:
                problems.append(f"{where}: unknown setting {key}: not in {rel(EXAMPLE)}")
            elif self.types[key] is not None and type(value) is not self.types[key]:
                problems.append(
                    f"{where}: {key} is a {type(value).__name__}, {rel(EXAMPLE)} has a {self.types[key].__name__}"
                )
        # Settings shown commented out, for people to turn on, must be real ones too.
        for key, _ in commented_settings(text):
            if key not in self.types:
                problems.append(f"{where}: commented-out {key} is not a setting in {rel(EXAMPLE)}")
        return problems

    def setting_of_variable(self, name: str) -> str:
        """BEIAN_DATABASE_URL -> database.url, as beian maps environment variables."""
        key = name.removeprefix("BEIAN_").lower()
        for section in sorted(self.sections, key=len, reverse=True):
            if key.startswith(section + "_"):
                return f"{section}.{key[len(section) + 1:]}"
        return key

    def check_variables(self, names, where: str) -> list[str]:
        problems = []
        for name in names:
            if not name.startswith("BEIAN_") or name in NOT_SETTINGS:
                continue
            key = self.setting_of_variable(name)
            if key not in self.types:
                problems.append(f"{where}: {name} names no setting ({key} is not in {rel(EXAMPLE)})")
        return problems


def commented_settings(text: str):
    """The settings shown commented out (`# key = value`), with the section they stand in, and their lines."""
    section = None
    for line in text.splitlines():
        if m := SECTION.match(line):
            section = m.group(1)
        elif (m := ASSIGNMENT.match(line)) and line.lstrip().startswith("#"):
            yield (f"{section}.{m.group(1)}" if section else m.group(1)), line


def flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


# ---- the checks ------------------------------------------------------------------------------------------------


class Run:
    def __init__(self):
        self.failed: list[str] = []
        self.count = 0

    def check(self, name: str, problems: list[str]):
        self.count += 1
        if problems:
            self.failed.append(name)
            print(f"  FAIL  {name}")
            for problem in problems:
                print(f"          {problem}")
        else:
            print(f"  ok    {name}")


def check_kubernetes_schemas(paths: list[Path], versions: list[str], label: str | None = None) -> list[str]:
    problems = []
    for path in paths:
        for doc in load_yaml_documents(path):
            name = f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
            for version in versions:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path) or "(top level)"
                    problems.append(f"{label or path.name}: {name} against Kubernetes {version}: {where}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError:
                    problems.append(
                        f"{label or path.name}: {name}: Kubernetes {version} has no {doc.get('apiVersion')} "
                        f"{doc.get('kind')}"
                    )
                except Exception as e:  # noqa: BLE001 - any other failure of the validator is a failure too
                    problems.append(
                        f"{label or path.name}: {name} against Kubernetes {version}: {type(e).__name__}: {e}"
                    )
    return problems


def by_kind(paths: list[Path]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for path in paths:
        for doc in load_yaml_documents(path):
            kinds.setdefault(doc.get("kind"), []).append(doc)
    return kinds


def pod_env_names(pod_spec: dict) -> list[str]:
    return [e["name"] for c in pod_spec.get("containers", []) for e in c.get("env", [])]


def check_kubernetes_consistency(settings: Settings) -> list[str]:
    problems = []
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = kustomization.get("resources", [])
    for resource in listed:
        if not (K8S / resource).exists():
            problems.append(f"kustomization.yaml lists {resource}, which does not exist")
    for path in sorted(K8S.glob("*.yaml")):
        if path.name in ("kustomization.yaml", "secret.example.yaml"):
            continue
        if path.name not in listed:
            problems.append(f"kustomization.yaml does not list {path.name}")
    if "secret.example.yaml" in listed:
        problems.append("kustomization.yaml must not apply secret.example.yaml (placeholders over real secrets)")

    kinds = by_kind([K8S / r for r in listed if (K8S / r).exists()] + [K8S / "secret.example.yaml"])
    try:
        (deployment,) = kinds["Deployment"]
        (job,) = kinds["Job"]
        (configmap,) = kinds["ConfigMap"]
        (secret,) = kinds["Secret"]
        (service,) = kinds["Service"]
        (hpa,) = kinds["HorizontalPodAutoscaler"]
        (pdb,) = kinds["PodDisruptionBudget"]
    except (KeyError, ValueError) as e:
        return problems + [f"expected exactly one Deployment, Job, ConfigMap, Secret, Service, HPA and PDB: {e}"]

    # The configuration file in the ConfigMap.
    config_text = configmap.get("data", {}).get("beian.toml")
    config = {}
    if config_text is None:
        problems.append("configmap.yaml: no beian.toml key")
    else:
        try:
            config = tomllib.loads(config_text)
        except tomllib.TOMLDecodeError:
            pass  # reported by check_configmap_settings

    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    (container,) = pod["containers"]

    # Probes and port.
    port = int(str(config.get("listen", "0.0.0.0:8080")).rsplit(":", 1)[1])
    if [p.get("containerPort") for p in container.get("ports", [])] != [port]:
        problems.append(f"deployment.yaml: the container port is not the configured listen port {port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        got = container.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            problems.append(f"deployment.yaml: {probe} must GET {path}, not {got}")

    # Graceful shutdown fits in the grace period.
    drain = config.get("shutdown_drain_seconds", 0)
    grace = config.get("shutdown_grace_seconds", 30)
    period = pod.get("terminationGracePeriodSeconds", 30)
    if not period > drain + grace:
        problems.append(
            f"deployment.yaml: terminationGracePeriodSeconds {period} must exceed shutdown_drain_seconds {drain} "
            f"+ shutdown_grace_seconds {grace}"
        )

    # Hardening.
    for name, spec in (("deployment.yaml", pod), ("migration-job.yaml", job["spec"]["template"]["spec"])):
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: the pod must set runAsNonRoot")
        # Service links put BEIAN_SERVICE_HOST, BEIAN_PORT_80_TCP, ... (for the Service `beian`) into the pods.
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{name}: the pod must set enableServiceLinks: false")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: container {c['name']}: read-only root file system, no privilege escalation")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{name}: container {c['name']} must drop ALL capabilities")
            if "/tmp" not in [m["mountPath"] for m in c.get("volumeMounts", [])]:
                problems.append(f"{name}: container {c['name']} needs a writable /tmp (read-only root)")

    # The migration Job runs the Deployment's image, with `migrate`.
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    if job_container.get("image") != container.get("image"):
        problems.append("migration-job.yaml: the Job's image differs from the Deployment's")
    if job_container.get("args") != ["migrate"]:
        problems.append("migration-job.yaml: the Job must run `beian migrate` (args: [migrate])")
    # It migrates as the tables' owner; the servers run as the least-privilege role (README.md).
    def database_key(c: dict):
        env = {e["name"]: e for e in c.get("env", [])}
        return env.get("BEIAN_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("key")
    if database_key(job_container) != "MIGRATE_DATABASE_URL" or database_key(container) != "BEIAN_DATABASE_URL":
        problems.append(
            "the migration Job's BEIAN_DATABASE_URL must come from MIGRATE_DATABASE_URL (the owner), the "
            "Deployment's from BEIAN_DATABASE_URL (the least-privilege role)"
        )

    # References: ConfigMap, Secret keys, the configuration path, selectors, the HPA's target.
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for name, spec in (("deployment.yaml", pod), ("migration-job.yaml", job["spec"]["template"]["spec"])):
        for c in spec["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
            for e in env.values():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and (ref.get("name") != secret["metadata"]["name"] or ref.get("key") not in secret_keys):
                    problems.append(f"{name}: {e['name']} refers to {ref}, not a key of secret.example.yaml")
            for volume in spec.get("volumes", []):
                cm = volume.get("configMap")
                if cm and cm.get("name") != configmap["metadata"]["name"]:
                    problems.append(f"{name}: volume {volume['name']} mounts ConfigMap {cm.get('name')}")
                if cm and env.get("BEIAN_CONFIG", {}).get("value") != f"{mounts.get(volume['name'])}/beian.toml":
                    problems.append(f"{name}: BEIAN_CONFIG is not the mounted beian.toml")
        problems += settings.check_variables(pod_env_names(spec), name)
    problems += settings.check_variables(secret_keys, "secret.example.yaml")

    for name, selector in (
        ("service.yaml", service["spec"].get("selector", {})),
        ("pdb.yaml", pdb["spec"].get("selector", {}).get("matchLabels", {})),
        ("deployment.yaml selector", deployment["spec"]["selector"].get("matchLabels", {})),
    ):
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"{name}: the selector {selector} does not select the Deployment's pods {labels}")
    target = hpa["spec"]["scaleTargetRef"]
    if (target.get("kind"), target.get("name")) != ("Deployment", deployment["metadata"]["name"]):
        problems.append(f"hpa.yaml: scales {target}, not the Deployment")
    for doc in (deployment, job, configmap, service, hpa, pdb, secret):
        if "namespace" in doc["metadata"]:
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: no namespace in the manifests")
    return problems


def check_compose(path: Path, settings: Settings) -> list[str]:
    problems = []
    compose = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    for error in sorted(validator_class(schema).iter_errors(compose), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in error.path) or "(top level)"
        problems.append(f"{path.name}: compose-spec: {where}: {error.message}")
    try:
        problems += compose_structure(path, compose, settings)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
        problems.append(f"{path.name}: unexpected structure: {type(e).__name__}: {e}")
    return problems


def compose_structure(path: Path, compose: dict, settings: Settings) -> list[str]:
    problems = []
    services = compose.get("services", {})
    for name, service in services.items():
        if "image" not in service and "build" not in service:
            problems.append(f"{path.name}: service {name} has neither image nor build")
        depends = service.get("depends_on", {})
        for other in depends if isinstance(depends, (list, dict)) else []:
            if other not in services:
                problems.append(f"{path.name}: service {name} depends on {other}, which is not a service")
        for port in service.get("ports", []):
            if not isinstance(port, (str, dict)):
                problems.append(f"{path.name}: service {name}: port {port!r} must be a quoted string")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")) and not (path.parent / source).exists():
                problems.append(f"{path.name}: service {name} mounts {source}, which does not exist")
        build = service.get("build")
        if isinstance(build, dict):
            context = path.parent / build.get("context", ".")
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"{path.name}: service {name}: no Dockerfile at {build}")
        environment = service.get("environment", {})
        names = environment if isinstance(environment, dict) else [e.split("=")[0] for e in environment]
        problems += settings.check_variables(names, f"{path.name} service {name}")

    # The server waits for a successful migration, and its configuration file is the one mounted.
    beian, migrate = services.get("beian", {}), services.get("migrate", {})
    if beian.get("depends_on", {}).get("migrate", {}).get("condition") != "service_completed_successfully":
        problems.append(f"{path.name}: beian must depend on migrate with condition service_completed_successfully")
    if migrate.get("command") != ["migrate"]:
        problems.append(f"{path.name}: the migrate service must run `beian migrate`")
    config_path = beian.get("environment", {}).get("BEIAN_CONFIG")
    mounted = {v.split(":")[1]: v.split(":")[0] for v in beian.get("volumes", []) if isinstance(v, str)}
    if config_path not in mounted:
        problems.append(f"{path.name}: BEIAN_CONFIG {config_path} is not a mounted file")
    else:
        config_file = path.parent / mounted[config_path]
        config = tomllib.loads(config_file.read_text(encoding="utf-8"))
        stop = str(beian.get("stop_grace_period", "10s"))
        seconds = int(stop[:-1]) * (60 if stop.endswith("m") else 1) if stop[:-1].isdigit() else None
        needed = config.get("shutdown_drain_seconds", 0) + config.get("shutdown_grace_seconds", 30)
        if seconds is None or seconds <= needed:
            problems.append(f"{path.name}: beian's stop_grace_period {stop} must exceed drain + grace ({needed} s)")
    return problems


def check_configmap_settings(settings: Settings) -> list[str]:
    for doc in load_yaml_documents(K8S / "configmap.yaml"):
        text = doc.get("data", {}).get("beian.toml")
        if doc.get("kind") == "ConfigMap" and text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                return [f"configmap.yaml beian.toml does not parse: {e}"]
            return settings.check_file(data, "configmap.yaml beian.toml", text)
    return ["configmap.yaml: no ConfigMap with a beian.toml key"]


def check_toml(path: Path, settings: Settings) -> list[str]:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return [f"{rel(path)} does not parse: {e}"]
    if path == EXAMPLE:
        return []
    return settings.check_file(data, rel(path), text)


def check_dockerfile(hadolint: str | None) -> list[str]:
    problems = []
    dockerfile = DEPLOY / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    # Instructions, with continuation lines joined.
    instructions = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    lines = [l.strip() for l in instructions.splitlines() if l.strip()]
    runtime = lines[max(i for i, l in enumerate(lines) if l.upper().startswith("FROM ")):]
    for copy in (l for l in lines if l.upper().startswith("COPY ") and "--from=" not in l):
        sources = [a for a in copy.split()[1:] if not a.startswith("--")][:-1]
        for source in sources:
            if not (ROOT / source).exists():
                problems.append(f"Dockerfile: COPY {source}: not in the build context (the repository root)")
    users = [l.split()[1] for l in runtime if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("Dockerfile: the runtime stage must end as a non-root USER")
    for needed in ("HEALTHCHECK ", "EXPOSE 8080", 'ENTRYPOINT ["beian"]', 'CMD ["serve"]', "ENV BEIAN_LISTEN=0.0.0.0:8080"):
        if not any(l.startswith(needed) for l in runtime):
            problems.append(f"Dockerfile: the runtime stage lacks {needed.strip()}")
    for ignored in ("target", "data", ".git"):
        if ignored not in [l.strip().strip("/") for l in (ROOT / ".dockerignore").read_text().splitlines()]:
            problems.append(f".dockerignore must exclude {ignored}")
    syntax = subprocess.run(["bash", "-n", str(DEPLOY / "docker-healthcheck.sh")], capture_output=True, text=True)
    if syntax.returncode != 0:
        problems.append(f"docker-healthcheck.sh: {syntax.stderr.strip()}")
    if hadolint:
        lint = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True)
        if lint.returncode != 0:
            problems += [f"hadolint: {l}" for l in (lint.stdout + lint.stderr).strip().splitlines()]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubernetes-version", action="append", required=True)
    parser.add_argument("--rendered", type=Path, help="the output of `kubectl kustomize deploy/kubernetes`")
    parser.add_argument("--hadolint", help="the hadolint binary, if there is one")
    parser.add_argument("--example", type=Path, default=EXAMPLE, help="the reference of the settings")
    args = parser.parse_args()

    versions = args.kubernetes_version
    settings = Settings(args.example)
    manifests = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    run = Run()
    print(f"deployment files (kubernetes-validate {kubernetes_validate.__version__}, strict, against Kubernetes "
          f"{' and '.join(versions)}):")
    run.check(f"Kubernetes manifests against the API schemas ({len(manifests)} files)",
              check_kubernetes_schemas(manifests, versions))
    if args.rendered:
        run.check("kubectl kustomize deploy/kubernetes against the API schemas",
                  check_kubernetes_schemas([args.rendered], versions, "kustomize output"))
    run.check("Kubernetes manifests refer to each other consistently", check_kubernetes_consistency(settings))
    run.check(f"configmap.yaml beian.toml parses, every setting in {EXAMPLE.name}", check_configmap_settings(settings))
    run.check("compose.yaml: compose-spec schema and structure", check_compose(DEPLOY / "compose.yaml", settings))
    for path in sorted(DEPLOY.glob("*.toml")):
        run.check(f"{rel(path)} parses" + ("" if path == EXAMPLE else f", every setting in {EXAMPLE.name}"),
                  check_toml(path, settings))
    run.check("Dockerfile" + (" (hadolint)" if args.hadolint else ""), check_dockerfile(args.hadolint))

    if run.failed:
        print(f"deployment files: {len(run.failed)} of {run.count} checks FAILED (see FAIL above)")
        return 1
    print(f"deployment files: all {run.count} checks ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
