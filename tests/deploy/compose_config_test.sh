#!/usr/bin/env bash
# Validates the deployment files without a Docker engine:
#   - `docker-compose config` (Debian's docker-compose, v1; the v2 plugin works too) parses, schema-checks
#     and interpolates deploy/docker-compose.yml with deploy/.env, with no warning (an unset variable
#     is one), and rejects a compose file with an unknown key (so the check can fail);
#   - the resolved services keep the contract docs/deployment.md describes: profiles, GPU reservation,
#     health check on :9090/health, model volume, .env values reaching the server's flags, and build
#     targets that exist as stages of deploy/Dockerfile;
#   - deploy/prometheus.yml and the Grafana provisioning files parse as YAML, the dashboard as JSON,
#     and every tspserve:* metric the dashboard queries is one the server registers.
# Needs: docker-compose (or `docker compose`), python3 with yaml (Debian: python3-yaml).
#
#   tests/deploy/compose_config_test.sh REPO_ROOT
set -euo pipefail

root=$(cd "${1:?usage: $0 REPO_ROOT}" && pwd)
deploy=$root/deploy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "compose_config_test: FAIL: $*" >&2
  exit 1
}

if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  fail "neither docker-compose nor 'docker compose' found (Debian package: docker-compose)"
fi
python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || fail "no python3 with the yaml module (Debian package: python3-yaml)"

# Runs compose on the deployment with a clean environment plus the VAR=VALUE pairs given first, all
# profiles enabled (v2 leaves services of disabled profiles out of `config`).
run_compose() {
  local -a vars=()
  while [ $# -gt 0 ] && [[ $1 == *=* ]]; do
    vars+=("$1")
    shift
  done
  (cd "$root" && env -i PATH="$PATH" HOME="$work" "${vars[@]}" "${compose[@]}" \
    -f deploy/docker-compose.yml --env-file deploy/.env \
    --profile cpu --profile load --profile grafana "$@")
}

# 1. The compose file validates, silently: compose reports an unset variable ("The X variable is not
# set") or a deprecated key on stderr even when it succeeds.
run_compose config >"$work/config.yml" 2>"$work/config.err" ||
  fail "docker-compose config failed: $(cat "$work/config.err")"
[ ! -s "$work/config.err" ] || fail "docker-compose config printed: $(cat "$work/config.err")"

# 2. The same validator rejects a malformed file, so step 1 means something.
printf 'services:\n  bad:\n    image: busybox\n    no_such_key: 1\n' >"$work/bad.yml"
if (cd "$work" && env -i PATH="$PATH" HOME="$work" "${compose[@]}" -f bad.yml config) \
    >/dev/null 2>&1; then
  fail "docker-compose config accepted a service with an unknown key"
fi

# 3. A variable set in the environment overrides deploy/.env.
run_compose DEGREE=3 PARALLEL=tp MODEL=/models/m config >"$work/override.yml" 2>/dev/null ||
  fail "docker-compose config failed with DEGREE=3 PARALLEL=tp MODEL=/models/m"

# 4. Contract checks on the resolved files.
"$python" - "$root" "$work/config.yml" "$work/override.yml" <<'EOF'
import json, os, re, shlex, sys
import yaml

root, config_path, override_path = sys.argv[1:4]
errors = []

def check(cond, what):
    if not cond:
        errors.append(what)

def load_yaml(path):
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        print(f"compose_config_test: FAIL: {path}: {e}", file=sys.stderr)
        sys.exit(1)

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"compose_config_test: FAIL: {path}: {e}", file=sys.stderr)
        sys.exit(1)

def server_flags(service):
    command = service.get("command", [])
    args = shlex.split(command) if isinstance(command, str) else list(command)
    flags = {}
    for i, arg in enumerate(args):
        if arg.startswith("--") and i + 1 < len(args):
            flags[arg] = args[i + 1]
    return args, flags

def volume_target(volume):
    # v1 prints "SOURCE:TARGET[:MODE]", v2 the long syntax.
    return volume.get("target") if isinstance(volume, dict) else volume.split(":")[1]

config = load_yaml(config_path)
services = config.get("services", {})
check(set(services) == {"tspserve", "tspserve-cpu", "tspload", "prometheus", "grafana"},
      f"services are {sorted(services)}")
expected_profiles = {"tspserve": None, "prometheus": None, "tspserve-cpu": ["cpu"],
                     "tspload": ["load"], "grafana": ["grafana"]}
for name, profiles in expected_profiles.items():
    check(services.get(name, {}).get("profiles") == profiles,
          f"{name}: profiles {services.get(name, {}).get('profiles')}, want {profiles}")

with open(os.path.join(root, "deploy", "Dockerfile")) as f:
    dockerfile = f.read()
stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I))
# Both runtime stages serve gRPC on 50051 and HTTP (/health, /metrics) on 9090, as compose assumes.
entrypoints = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.M)
check([json.loads(e) for e in entrypoints] == [["tspserve", "serve", "--host", "0.0.0.0", "--port", "50051",
                                                "--metrics-port", "9090"]] * 2,
      f"Dockerfile: entrypoints {entrypoints}")
env = dict(line.split("=", 1) for line in open(os.path.join(root, "deploy", ".env"))
           if "=" in line and not line.lstrip().startswith("#"))
env = {k.strip(): v.strip() for k, v in env.items()}
for key in ("MODEL", "MODEL_DIR", "PARALLEL", "DEGREE"):
    check(key in env, f"deploy/.env: no {key}")
    env.setdefault(key, None)

for name in ("tspserve", "tspserve-cpu"):
    s = services.get(name, {})
    args, flags = server_flags(s)
    check(flags.get("--degree") == env["DEGREE"], f"{name}: --degree {flags.get('--degree')}")
    check(flags.get("--parallel") == env["PARALLEL"], f"{name}: --parallel {flags.get('--parallel')}")
    check("--model" in args and flags.get("--model") == env["MODEL"],
          f"{name}: --model {flags.get('--model')!r}, want {env['MODEL']!r}")
    check("/models" in [volume_target(v) for v in s.get("volumes", [])], f"{name}: no volume at /models")
    test = s.get("healthcheck", {}).get("test", [])
    check("http://localhost:9090/health" in test, f"{name}: health check {test}")
    check(s.get("restart") == "unless-stopped", f"{name}: restart {s.get('restart')}")
    check("shm_size" in s, f"{name}: no shm_size")
    target = s.get("build", {}).get("target")
    check(target in stages, f"{name}: build target {target} is not a Dockerfile stage {sorted(stages)}")

devices = (services.get("tspserve", {}).get("deploy", {}).get("resources", {})
           .get("reservations", {}).get("devices", []))
check(any("gpu" in d.get("capabilities", []) for d in devices), f"tspserve: GPU reservation {devices}")
networks = services.get("tspserve-cpu", {}).get("networks") or {}
check("tspserve" in ((networks.get("default") or {}).get("aliases") or []),
      "tspserve-cpu: no network alias tspserve")

load_args, load_flags = server_flags(services.get("tspload", {}))
check(services.get("tspload", {}).get("entrypoint") == ["tspload"], "tspload: entrypoint")
check(load_flags.get("--target") == "tspserve:50051", f"tspload: --target {load_flags.get('--target')}")
for flag in ("--num-requests", "--input-len", "--output-len", "--result-json"):
    check(flag in load_flags, f"tspload: no {flag}")

override = load_yaml(override_path)["services"]["tspserve"]
_, flags = server_flags(override)
check((flags.get("--degree"), flags.get("--parallel"), flags.get("--model")) == ("3", "tp", "/models/m"),
      f"environment does not override .env: {flags}")

prometheus = load_yaml(os.path.join(root, "deploy", "prometheus.yml"))
jobs = {j["job_name"]: j for j in prometheus.get("scrape_configs", [])}
job = jobs.get("tspserve", {})
targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
check(targets == ["tspserve:9090"], f"prometheus: tspserve targets {targets}")
check(job.get("metrics_path", "/metrics") == "/metrics", "prometheus: metrics_path")

grafana = os.path.join(root, "deploy", "grafana")
datasources = load_yaml(os.path.join(grafana, "provisioning", "datasources", "prometheus.yml"))
uids = {d.get("uid") for d in datasources.get("datasources", [])}
providers = load_yaml(os.path.join(grafana, "provisioning", "dashboards", "tspserve.yml"))
check(providers.get("providers"), "grafana: no dashboard provider")
dashboard = load_json(os.path.join(grafana, "dashboards", "tspserve.json"))
panels = dashboard.get("panels", [])
check(len(panels) >= 6, f"grafana: {len(panels)} panels")
with open(os.path.join(root, "engine", "metrics", "server_metrics.cc")) as f:
    registered = set(re.findall(r'"(tspserve:[a-z0-9_]+)"', f.read()))
for panel in panels:
    check(panel.get("datasource", {}).get("uid") in uids, f"panel {panel.get('title')}: datasource")
    check(panel.get("targets"), f"panel {panel.get('title')}: no queries")
    for target in panel.get("targets", []):
        for metric in re.findall(r"tspserve:[a-z0-9_]+", target.get("expr", "")):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            check(metric in registered or base in registered,
                  f"panel {panel.get('title')}: {metric} is not a registered metric")

if errors:
    print("\n".join("compose_config_test: FAIL: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
EOF

echo "compose_config_test: ok (${compose[*]}, $("${compose[@]}" version --short 2>/dev/null || true))"
