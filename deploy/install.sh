#!/usr/bin/env bash
# Gatehouse installer for Raspberry Pi OS (Bookworm, 64-bit). docs/install.md explains every step.
#
#   sudo bash install.sh [gatehouse-<version>.tgz]     install, or upgrade in place (data and config kept)
#   sudo bash install.sh --uninstall [--purge]         remove (the data and config stay unless --purge)
#
# Without a file it installs the one gatehouse-*.tgz next to this script. Options:
#   --allow-unsupported   go on (with a warning) on a machine that is not a Pi with Bookworm arm64
#   --no-start            install and enable the service, but do not (re)start it now
#
# Every path can be changed through the environment (a test runs this in a throwaway folder):
#   PREFIX (/opt/gatehouse)  ETC_DIR (/etc/gatehouse)  DATA_DIR (/var/lib/gatehouse)
#   SYSTEMD_DIR (/etc/systemd/system)  BIN_DIR (/usr/local/bin)  SERVICE_USER (gatehouse)
#   NODE_BIN (the node found on PATH)  OS_RELEASE (/etc/os-release)  MODEL_FILE (/proc/device-tree/model)
#   SKIP_APT=1 SKIP_USERADD=1 SKIP_SYSTEMCTL=1   leave out package installs, users, systemctl
#   NODE_MODULES_DIR=DIR   link an already installed production node_modules instead of `npm ci`
set -euo pipefail

PREFIX="${PREFIX:-/opt/gatehouse}"
ETC_DIR="${ETC_DIR:-/etc/gatehouse}"
DATA_DIR="${DATA_DIR:-/var/lib/gatehouse}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
BIN_DIR="${BIN_DIR:-/usr/local/bin}"
SERVICE_USER="${SERVICE_USER:-gatehouse}"
OS_RELEASE="${OS_RELEASE:-/etc/os-release}"
MODEL_FILE="${MODEL_FILE:-/proc/device-tree/model}"
SKIP_APT="${SKIP_APT:-0}"
SKIP_USERADD="${SKIP_USERADD:-0}"
SKIP_SYSTEMCTL="${SKIP_SYSTEMCTL:-0}"
NODE_MODULES_DIR="${NODE_MODULES_DIR:-}"
# The oldest Node.js the hub runs on (package.json "engines"); Node 22 is what this script installs.
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
NODE_MAJOR_TO_INSTALL=22
SERVICE=gatehouse
KEEP_VERSIONS=2 # the current one and the one before it, for a rollback

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---- checks -------------------------------------------------------------------------------------------

check_platform() {
  local allow="$1" problems=() model="" codename="" arch
  [ -r "$MODEL_FILE" ] && model="$(tr -d '\0' <"$MODEL_FILE")"
  if [ -r "$OS_RELEASE" ]; then
    # shellcheck source=/dev/null
    codename="$(. "$OS_RELEASE" && printf '%s' "${VERSION_CODENAME:-}")"
  fi
  arch="$(uname -m)"
  case "$model" in
    "Raspberry Pi 4"* | "Raspberry Pi 5"* | "Raspberry Pi Compute Module 4"* | "Raspberry Pi Compute Module 5"*) ;;
    "Raspberry Pi"*) problems+=("this is a ${model}; Gatehouse is tested on a Pi 4 or 5 (2 GB or more)") ;;
    *) problems+=("this is not a Raspberry Pi (${model:-no model in $MODEL_FILE})") ;;
  esac
  [ "$codename" = bookworm ] || problems+=("the OS is '${codename:-unknown}', not Raspberry Pi OS / Debian bookworm")
  case "$arch" in
    aarch64 | arm64) ;;
    *) problems+=("the processor is $arch, not arm64 (use the 64-bit Raspberry Pi OS)") ;;
  esac
  if [ ${#problems[@]} -gt 0 ]; then
    for p in "${problems[@]}"; do warn "$p"; done
    [ "$allow" = 1 ] || die "not a supported machine; re-run with --allow-unsupported to install anyway"
    warn "going on because of --allow-unsupported"
  else
    say "machine: $model, $codename, $arch"
  fi
}

node_is_recent() {
  local node="$1"
  [ -x "$node" ] || return 1
  "$node" -e "const [a, b] = process.versions.node.split('.').map(Number);
    process.exit(a > $NODE_MIN_MAJOR || (a === $NODE_MIN_MAJOR && b >= $NODE_MIN_MINOR) ? 0 : 1)" 2>/dev/null
}

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# Node.js: Debian's package when it is recent enough (Debian 13 has 20.19), else NodeSource's Node 22
# (Bookworm's own nodejs is 18, too old).
ensure_node() {
  local found
  found="${NODE_BIN:-$(command -v node || true)}"
  if [ -n "$found" ] && node_is_recent "$found"; then
    NODE_BIN="$found"
    say "Node.js $("$NODE_BIN" --version) at $NODE_BIN"
    return
  fi
  [ "$SKIP_APT" = 1 ] && die "Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or newer is needed (found: ${found:-none}); SKIP_APT=1 keeps this script from installing it"
  say "installing Node.js"
  apt-get update -q
  local candidate
  candidate="$(apt-cache policy nodejs | awk '/Candidate:/ {print $2}')"
  candidate="${candidate#*:}"
  if printf '%s' "$candidate" | awk -F'[.~+-]' -v M="$NODE_MIN_MAJOR" -v m="$NODE_MIN_MINOR" \
    '{ exit !($1 > M || ($1 == M && $2 >= m)) }'; then
    apt_install nodejs npm
  else
    apt_install ca-certificates curl gnupg
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key |
      gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
    echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR_TO_INSTALL}.x nodistro main" \
      >/etc/apt/sources.list.d/nodesource.list
    apt-get update -q
    apt_install nodejs
  fi
  NODE_BIN="$(command -v node)"
  node_is_recent "$NODE_BIN" || die "the installed Node.js ($("$NODE_BIN" --version)) is still too old"
  say "Node.js $("$NODE_BIN" --version) at $NODE_BIN"
}

# Native modules without a prebuilt binary for the Pi (unix-dgram for systemd, epoll for GPIO) compile.
ensure_build_tools() {
  [ "$SKIP_APT" = 1 ] && return
  say "installing build tools for native modules (python3, make, g++)"
  apt_install python3 make g++
}

ensure_user() {
  [ "$SKIP_USERADD" = 1 ] && return
  local group
  for group in gpio dialout; do
    getent group "$group" >/dev/null || groupadd --system "$group"
  done
  if id "$SERVICE_USER" >/dev/null 2>&1; then
    usermod -a -G gpio,dialout "$SERVICE_USER"
  else
    say "creating the system user $SERVICE_USER (groups gpio, dialout)"
    useradd --system --user-group --groups gpio,dialout --home-dir "$DATA_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "Gatehouse hub" "$SERVICE_USER"
  fi
}

# chown only where the user exists (a test without root has neither the user nor the right).
own() {
  if [ "$SKIP_USERADD" != 1 ] || id "$SERVICE_USER" >/dev/null 2>&1; then
    chown "$@"
  fi
}

systemctl_() {
  [ "$SKIP_SYSTEMCTL" = 1 ] && return 0
  systemctl "$@"
}

# ---- install ------------------------------------------------------------------------------------------

find_release() {
  local given="${1:-}"
  if [ -n "$given" ]; then
    [ -f "$given" ] || die "no such file: $given"
    printf '%s' "$given"
    return
  fi
  local found=()
  while IFS= read -r -d '' f; do found+=("$f"); done < <(find "$SCRIPT_DIR" -maxdepth 1 -name 'gatehouse-*.tgz' -print0)
  [ ${#found[@]} -eq 1 ] || die "give the release file: sudo bash install.sh gatehouse-<version>.tgz (found ${#found[@]} next to this script)"
  printf '%s' "${found[0]}"
}

release_version() {
  local version
  version="$(tar -xOzf "$1" package/package.json | "$NODE_BIN" -e \
    'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).version))')" ||
    die "$1 is not a Gatehouse release (no package/package.json)"
  [[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$ ]] || die "$1 has an unusable version '$version'"
  printf '%s' "$version"
}

# Unpacks into a staging folder and installs the production dependencies there; `current` is untouched.
stage_release() {
  local release="$1" stage="$2"
  rm -rf "$stage"
  mkdir -p "$stage"
  tar -xzf "$release" -C "$stage" --strip-components=1 --no-same-owner
  [ -f "$stage/dist/hub/main.js" ] || die "$release holds no dist/hub/main.js"
  if [ -n "$NODE_MODULES_DIR" ]; then
    ln -s "$NODE_MODULES_DIR" "$stage/node_modules"
  else
    say "installing production dependencies (npm ci --omit=dev; native modules compile, a few minutes on a Pi)"
    (cd "$stage" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  fi
  # Type=notify needs unix-dgram (an optional dependency: npm skips it quietly when it cannot compile).
  (cd "$stage" && "$NODE_BIN" -e "require('unix-dgram')") 2>/dev/null ||
    die "the native module unix-dgram did not install (it needs python3, make and g++); the service could not tell systemd it is ready"
}

# Refuses a release older than the database: the data dir's schema must be one the release understands.
# Run as the service user when there is one, so SQLite's side files (-shm) never end up owned by root.
check_schema() {
  local stage="$1" out as=()
  if [ "$(id -u)" -eq 0 ] && id "$SERVICE_USER" >/dev/null 2>&1; then as=(runuser -u "$SERVICE_USER" --); fi
  if ! out="$(GATEHOUSE_CONFIG=/dev/null "${as[@]}" "$NODE_BIN" "$stage/dist/hub/main.js" schema-version "$DATA_DIR" 2>&1)"; then
    printf '%s\n' "$out" >&2
    return 1
  fi
  say "$out"
}

APPLIANCE_DEFAULTS='
# --- Appliance defaults written by install.sh (docs/install.md) ---
# Scheduled encrypted backups, daily, 7 kept, in /var/lib/gatehouse/backups. They need a passphrase:
#   sudo gatehouse backup passphrase
backups:
  enabled: true'

install_config() {
  local from="$1"
  install -d -m 0750 "$ETC_DIR"
  own "root:$SERVICE_USER" "$ETC_DIR"
  # The example is refreshed on every install (new settings show up there); config.yml is never overwritten.
  install -m 0644 "$from/deploy/config.example.yml" "$ETC_DIR/config.example.yml"
  if [ -e "$ETC_DIR/config.yml" ]; then
    say "keeping $ETC_DIR/config.yml (new settings, if any: $ETC_DIR/config.example.yml)"
  else
    install -m 0640 "$from/deploy/config.example.yml" "$ETC_DIR/config.yml"
    # What an appliance does unlike a developer's checkout: it backs itself up (docs/replace-a-hub.md).
    printf '%s\n' "$APPLIANCE_DEFAULTS" >>"$ETC_DIR/config.yml"
    own "root:$SERVICE_USER" "$ETC_DIR/config.yml"
    say "wrote $ETC_DIR/config.yml (appliance defaults; every other setting at its default, commented out)"
    say "set the backup passphrase now and write it down: sudo gatehouse backup passphrase"
  fi
}

install_data_dir() {
  install -d -m 0700 "$DATA_DIR"
  chmod 0700 "$DATA_DIR"
  own "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
}

install_unit() {
  local from="$1"
  install -d -m 0755 "$SYSTEMD_DIR"
  sed -e "s#/usr/bin/node#${NODE_BIN}#g" \
    -e "s#/opt/gatehouse#${PREFIX}#g" \
    -e "s#/var/lib/gatehouse#${DATA_DIR}#g" \
    -e "s#/etc/gatehouse#${ETC_DIR}#g" \
    -e "s#^User=gatehouse#User=${SERVICE_USER}#; s#^Group=gatehouse#Group=${SERVICE_USER}#" \
    "$from/deploy/systemd/gatehouse.service" >"$SYSTEMD_DIR/$SERVICE.service.new"
  chmod 0644 "$SYSTEMD_DIR/$SERVICE.service.new"
  mv -f "$SYSTEMD_DIR/$SERVICE.service.new" "$SYSTEMD_DIR/$SERVICE.service"
}

# `sudo gatehouse …` runs the CLI as the service user with the installed config and data.
install_wrapper() {
  install -d -m 0755 "$BIN_DIR"
  cat >"$BIN_DIR/gatehouse.new" <<EOF
#!/bin/sh
# The Gatehouse CLI as the service user (written by install.sh; docs/cli.md).
export GATEHOUSE_CONFIG="$ETC_DIR/config.yml" GATEHOUSE_DATA="$DATA_DIR"
if [ "\$(id -un)" = "$SERVICE_USER" ]; then
  exec "$NODE_BIN" "$PREFIX/current/dist/hub/main.js" "\$@"
elif [ "\$(id -u)" = 0 ]; then
  exec runuser -u "$SERVICE_USER" -- "$NODE_BIN" "$PREFIX/current/dist/hub/main.js" "\$@"
else
  exec sudo -u "$SERVICE_USER" GATEHOUSE_CONFIG="\$GATEHOUSE_CONFIG" GATEHOUSE_DATA="\$GATEHOUSE_DATA" "$NODE_BIN" "$PREFIX/current/dist/hub/main.js" "\$@"
fi
EOF
  chmod 0755 "$BIN_DIR/gatehouse.new"
  mv -f "$BIN_DIR/gatehouse.new" "$BIN_DIR/gatehouse"
}

# Old versions beyond the current one and the one before it go.
prune_versions() {
  local current="$1" kept=0 dir
  while IFS= read -r dir; do
    [ "$dir" = "$current" ] && continue
    kept=$((kept + 1))
    if [ "$kept" -ge "$KEEP_VERSIONS" ]; then
      rm -rf "${PREFIX:?}/$dir"
      say "removed old version $dir"
    fi
  done < <(find "$PREFIX" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %f\n' | sort -rn | cut -d' ' -f2-)
}

wait_until_active() {
  [ "$SKIP_SYSTEMCTL" = 1 ] && return 0
  local i
  for i in $(seq 1 90); do
    if systemctl is-active --quiet "$SERVICE"; then
      say "the hub is running: $(systemctl show -p StatusText --value "$SERVICE")"
      return 0
    fi
    systemctl is-failed --quiet "$SERVICE" && break
    [ "$i" = 90 ] || sleep 1
  done
  warn "the hub is not running yet; see: journalctl -u $SERVICE -n 50"
  return 1
}

do_install() {
  local release="$1" allow="$2" start="$3"
  if [ "${ALLOW_UNSUPPORTED:-0}" = 1 ]; then allow=1; fi
  check_platform "$allow"
  ensure_node
  ensure_build_tools
  release="$(cd "$(dirname "$release")" && pwd)/$(basename "$release")"
  local version stage previous=""
  version="$(release_version "$release")"
  [ -L "$PREFIX/current" ] && previous="$(readlink "$PREFIX/current")"
  if [ -n "$previous" ]; then
    say "upgrading Gatehouse $previous -> $version"
  else
    say "installing Gatehouse $version"
  fi

  install -d -m 0755 "$PREFIX"
  stage="$PREFIX/.staging-$version"
  stage_release "$release" "$stage"
  if ! check_schema "$stage"; then
    rm -rf "$stage"
    die "refusing to install $version: its database schema is older than the one in $DATA_DIR (a downgrade). Nothing was changed; ${previous:+$previous stays installed.}"
  fi

  ensure_user
  install_data_dir
  install_config "$stage"

  # The switch: the new version in place, then `current` swapped in one rename.
  if [ -d "$PREFIX/$version" ]; then
    rm -rf "$PREFIX/.replaced-$version"
    mv "$PREFIX/$version" "$PREFIX/.replaced-$version"
  fi
  mv "$stage" "$PREFIX/$version"
  touch "$PREFIX/$version"
  ln -sfn "$version" "$PREFIX/.current-new"
  mv -Tf "$PREFIX/.current-new" "$PREFIX/current"
  rm -rf "$PREFIX/.replaced-$version"

  install_unit "$PREFIX/current"
  install_wrapper
  systemctl_ daemon-reload
  systemctl_ enable "$SERVICE" >/dev/null
  if [ "$start" = 1 ]; then
    say "starting the hub"
    # Type=notify: this returns once the hub says READY=1, or fails when it could not start.
    systemctl_ restart "$SERVICE" || warn "the hub did not start"
    wait_until_active || true
  fi
  prune_versions "$version"

  cat <<EOF

Gatehouse $version is installed.
  program        $PREFIX/current -> $version
  configuration  $ETC_DIR/config.yml
  data           $DATA_DIR (keys, database, certificates: make backups, see docs/data.md)
  service        $SYSTEMD_DIR/$SERVICE.service (systemctl status $SERVICE, journalctl -u $SERVICE -f)
  command line   sudo gatehouse status
Next: the first staff login (docs/install.md, "First staff login").
EOF
}

do_uninstall() {
  local purge="$1"
  say "removing the Gatehouse service"
  systemctl_ disable --now "$SERVICE" 2>/dev/null || true
  rm -f "$SYSTEMD_DIR/$SERVICE.service" "$BIN_DIR/gatehouse"
  systemctl_ daemon-reload
  rm -rf "${PREFIX:?}"
  if [ "$purge" = 1 ]; then
    say "deleting $DATA_DIR and $ETC_DIR (--purge): the database, keys and configuration are gone"
    rm -rf "${DATA_DIR:?}" "${ETC_DIR:?}"
    if [ "$SKIP_USERADD" != 1 ] && id "$SERVICE_USER" >/dev/null 2>&1; then userdel "$SERVICE_USER"; fi
  else
    say "kept $DATA_DIR (database, keys) and $ETC_DIR; delete them with --uninstall --purge"
  fi
}

main() {
  local release="" uninstall=0 purge=0 allow=0 start=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --uninstall) uninstall=1 ;;
      --purge) purge=1 ;;
      --allow-unsupported) allow=1 ;;
      --no-start) start=0 ;;
      -h | --help)
        usage
        exit 0
        ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) release="$1" ;;
    esac
    shift
  done
  if [ "$(id -u)" -ne 0 ] && { [ "$SKIP_APT" != 1 ] || [ "$SKIP_USERADD" != 1 ] || [ "$SKIP_SYSTEMCTL" != 1 ]; }; then
    die "run it as root: sudo bash $0 $*"
  fi
  [ "$purge" = 1 ] && [ "$uninstall" = 0 ] && die "--purge goes with --uninstall"
  if [ "$uninstall" = 1 ]; then
    do_uninstall "$purge"
  else
    do_install "$(find_release "$release")" "$allow" "$start"
  fi
}

main "$@"
