# Shared set-up for scripts/demo and scripts/test: a fresh machine needs nothing else.
# Sourced, not run. Idempotent: a second run only checks stamps.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${SUPERD_VENV:-$repo_root/.venv}"

log() { printf '[setup] %s\n' "$*" >&2; }

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    log "Python >= 3.11 is required and none was found on PATH"
    return 1
}

# Debian packages the tests talk to (real peers). Installed only when we are root
# and apt-get exists; otherwise the tests that need them say what is missing.
ensure_debian_packages() {
    local list="$repo_root/scripts/debian-packages.txt" missing=() pkg
    [ -f "$list" ] || return 0
    while read -r pkg _; do
        [ -n "$pkg" ] && [ "${pkg#\#}" = "$pkg" ] || continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done <"$list"
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "not root (or no apt-get): skipping Debian packages ${missing[*]}; tests needing them will report it"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv EXTRAS [GROUPS]: a virtualenv with the package installed editable plus
# EXTRAS ("" for the bare package) and the PEP 735 dependency GROUPS of pyproject.toml
# (space separated, e.g. "dev"). Reinstalls only when pyproject.toml, EXTRAS or GROUPS
# change; any install of the current pyproject.toml satisfies a request for the bare package.
ensure_venv() {
    local extras="$1" groups="${2:-}" python stamp hash want group
    local -a group_args=()
    python="$(pick_python)"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating virtualenv $venv"
        "$python" -m venv "$venv"
    fi
    hash="$(sha256sum "$repo_root/pyproject.toml" | cut -d' ' -f1)"
    stamp="$venv/.supervisor-core-installed"
    want="$hash $extras${groups:+ +$groups}"
    if [ -f "$stamp" ] && grep -q "^$hash " "$stamp" &&
        { [ -z "$extras$groups" ] || grep -qxF "$want" "$stamp"; }; then
        return 0
    fi
    for group in $groups; do
        group_args+=(--group "$repo_root/pyproject.toml:$group")
    done
    log "installing supervisor-core${extras:+[$extras]}${groups:+ and groups $groups} into $venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$venv/bin/python" -m pip install -q -e "$repo_root${extras:+[$extras]}" "${group_args[@]}"
    { grep "^$hash " "$stamp" 2>/dev/null || true; echo "$want"; } >"$stamp.new"
    mv "$stamp.new" "$stamp"
}
