#!/bin/sh
# gotunnel installer: downloads the release binary for this machine, verifies it against checksums.txt (and its
# signature when a public key is configured), then moves it into place atomically. Nothing is installed unless every
# check passes. POSIX sh on purpose: it runs as `curl -fsSL .../install.sh | sh` on Alpine, Debian and macOS alike.
#
#   sh install.sh [--version vX.Y.Z] [--install-dir DIR] [--dry-run] [--uninstall] [--help]
#
# Environment: GOTUNNEL_VERSION, GOTUNNEL_INSTALL_DIR, GOTUNNEL_REPO (owner/name), GOTUNNEL_DOWNLOAD_URL (a base URL
# or file:// directory holding the release files: mirrors, air-gapped sites, tests), GOTUNNEL_MINISIGN_PUBKEY (the
# key string, "RW..."), GOTUNNEL_GPG_PUBKEY (path to an armored public key file).
# Test seams, never needed by users: GOTUNNEL_TEST_UNAME_S, GOTUNNEL_TEST_UNAME_M, GOTUNNEL_TEST_LIBC (glibc|musl),
# GOTUNNEL_TEST_ROSETTA (1|0) replace what the machine reports, so one host can exercise every platform branch.
set -eu

# The project's release signing key, once it has one. A key set here is checked whenever minisign is installed; a key
# the user sets in GOTUNNEL_MINISIGN_PUBKEY is always checked (and minisign becomes required).
DEFAULT_MINISIGN_PUBKEY=""

REPO="${GOTUNNEL_REPO:-gotunnel/gotunnel}"
VERSION="${GOTUNNEL_VERSION:-}"
INSTALL_DIR="${GOTUNNEL_INSTALL_DIR:-}"
ACTION=install
TMP_DIR=""
STAGED=""

say() { printf '%s\n' "$*"; }
warn() { printf 'gotunnel-install: warning: %s\n' "$*" >&2; }
die() {
  printf 'gotunnel-install: error: %s\n' "$1" >&2
  [ $# -gt 1 ] && printf '  %s\n' "$2" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Install gotunnel: trusted HTTPS names for local dev servers.

Usage: sh install.sh [options]

Options:
  --version vX.Y.Z    install this release instead of the latest
  --install-dir DIR   install into DIR (default: /usr/local/bin when writable, else ~/.local/bin)
  --dry-run           print the platform, URLs and target path, then stop
  --uninstall         remove the installed binary and list gotunnel's remaining files
  -h, --help          show this help

Environment:
  GOTUNNEL_VERSION, GOTUNNEL_INSTALL_DIR   same as the flags above
  GOTUNNEL_REPO            GitHub repository to download from (default gotunnel/gotunnel)
  GOTUNNEL_DOWNLOAD_URL    base URL (or file:// directory) holding checksums.txt and the binaries
  GOTUNNEL_MINISIGN_PUBKEY minisign public key: checksums.txt.minisig must verify (needs minisign)
  GOTUNNEL_GPG_PUBKEY      armored gpg public key file: checksums.txt.sig must verify (needs gpg)
EOF
}

cleanup() {
  [ -n "$STAGED" ] && rm -f "$STAGED"
  [ -n "$TMP_DIR" ] && rm -rf "$TMP_DIR"
  return 0
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --version) [ $# -ge 2 ] || die "--version needs a value, e.g. --version v0.2.0"; VERSION="$2"; shift ;;
      --version=*) VERSION="${1#*=}" ;;
      --install-dir) [ $# -ge 2 ] || die "--install-dir needs a directory"; INSTALL_DIR="$2"; shift ;;
      --install-dir=*) INSTALL_DIR="${1#*=}" ;;
      --dry-run) ACTION=dry-run ;;
      --uninstall) ACTION=uninstall ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown option: $1" "run: sh install.sh --help" ;;
    esac
    shift
  done
  VERSION="${VERSION#v}"
}

# --- platform ---------------------------------------------------------------------------------------------------

uname_s() { printf '%s' "${GOTUNNEL_TEST_UNAME_S:-$(uname -s)}"; }
uname_m() { printf '%s' "${GOTUNNEL_TEST_UNAME_M:-$(uname -m)}"; }

is_musl() {
  case "${GOTUNNEL_TEST_LIBC:-}" in musl) return 0 ;; glibc) return 1 ;; esac
  # ldd names its libc ("musl libc" on Alpine, "GNU libc"/"GLIBC" on Debian). A loader file alone is not proof:
  # Debian's `musl` package installs /lib/ld-musl-*.so.1 next to glibc.
  if command -v ldd >/dev/null 2>&1; then
    libc=$(ldd --version 2>&1 || true)
    case "$libc" in *musl*) return 0 ;; *GNU* | *GLIBC* | *glibc*) return 1 ;; esac
  fi
  for loader in /lib64/ld-linux-*.so.2 /lib/ld-linux-*.so.*; do [ -e "$loader" ] && return 1; done
  for loader in /lib/ld-musl-*.so.1; do [ -e "$loader" ] && return 0; done
  return 1
}

# An x86_64 shell on Apple silicon runs under Rosetta 2 and reports x86_64: the native arm64 build is the right one.
is_rosetta() {
  case "${GOTUNNEL_TEST_ROSETTA:-}" in 1) return 0 ;; 0) return 1 ;; esac
  [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]
}

detect_target() {
  os_name=$(uname_s)
  machine=$(uname_m)
  case "$os_name" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      die "this installer is for Linux and macOS." \
        "On Windows: scoop install gotunnel, or download gotunnel-<version>-windows-x64.exe from https://github.com/$REPO/releases" ;;
    *)
      die "gotunnel has no build for $os_name." \
        "Supported: Linux (x86_64, arm64; x86_64 musl) and macOS (x86_64, arm64). See https://github.com/$REPO/releases" ;;
  esac
  case "$machine" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "gotunnel has no build for $os_name on $machine." "Supported CPUs: x86_64 (amd64) and arm64 (aarch64)." ;;
  esac
  if [ "$os" = darwin ] && [ "$arch" = x64 ] && is_rosetta; then arch=arm64; fi
  TARGET="$os-$arch"
  if [ "$os" = linux ] && is_musl; then
    [ "$arch" = x64 ] || die "gotunnel has no build for musl on $machine yet (only x86_64)." \
      "Use a glibc-based system or container (e.g. debian:bookworm-slim) on arm64."
    TARGET=linux-x64-musl
  fi
}

# --- download and verify ----------------------------------------------------------------------------------------

base_url() {
  if [ -n "${GOTUNNEL_DOWNLOAD_URL:-}" ]; then
    printf '%s' "${GOTUNNEL_DOWNLOAD_URL%/}"
  elif [ -n "$VERSION" ]; then
    printf 'https://github.com/%s/releases/download/v%s' "$REPO" "$VERSION"
  else
    printf 'https://github.com/%s/releases/latest/download' "$REPO"
  fi
}

download() { # url dest
  case "$1" in
    file://*) cp "${1#file://}" "$2" 2>/dev/null || die "cannot read ${1#file://}" ;;
    *)
      if command -v curl >/dev/null 2>&1; then
        curl --fail --silent --show-error --location --retry 3 --proto '=http,https' -o "$2" "$1" ||
          die "download failed: $1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1" || die "download failed: $1"
      else
        die "neither curl nor wget is installed." "Install one of them (e.g. apt-get install curl) and run again."
      fi ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
  else
    die "no SHA-256 tool found (sha256sum, shasum or openssl)." "Install coreutils or openssl and run again."
  fi
}

# Prints "<version> <hash>" for this target's entry, refusing a missing, duplicated or malformed one.
find_entry() { # checksums-file
  awk -v target="$TARGET" -v want="$VERSION" '
    {
      name = $2; sub(/^\*/, "", name)
      prefix = "gotunnel-"; suffix = "-" target
      if (substr(name, 1, length(prefix)) != prefix) next
      if (length(name) <= length(prefix) + length(suffix)) next
      if (substr(name, length(name) - length(suffix) + 1) != suffix) next
      v = substr(name, length(prefix) + 1, length(name) - length(prefix) - length(suffix))
      if (v !~ /^[0-9][0-9A-Za-z.+~-]*$/ || v ~ /-(linux|darwin|windows)-/) next
      if (want != "" && v != want) next
      count++; found = v " " tolower($1)
    }
    END { if (count == 1) print found; else if (count > 1) print "DUPLICATE" }
  ' "$1"
}

verify_signature() { # checksums-file
  minisign_key="${GOTUNNEL_MINISIGN_PUBKEY:-}"
  required=1
  if [ -z "$minisign_key" ] && [ -n "$DEFAULT_MINISIGN_PUBKEY" ]; then minisign_key="$DEFAULT_MINISIGN_PUBKEY"; required=0; fi
  if [ -n "$minisign_key" ]; then
    if command -v minisign >/dev/null 2>&1; then
      download "$(base_url)/checksums.txt.minisig" "$TMP_DIR/checksums.txt.minisig"
      minisign -V -q -P "$minisign_key" -m "$1" -x "$TMP_DIR/checksums.txt.minisig" >/dev/null 2>&1 ||
        die "the minisign signature of checksums.txt does not verify. Nothing was installed."
      SIGNED_BY="minisign"
      return 0
    fi
    [ "$required" = 1 ] && die "GOTUNNEL_MINISIGN_PUBKEY is set but minisign is not installed." \
      "Install minisign, or unset GOTUNNEL_MINISIGN_PUBKEY to rely on SHA-256 alone."
    warn "signature not checked: minisign is not installed"
  fi
  if [ -n "${GOTUNNEL_GPG_PUBKEY:-}" ]; then
    command -v gpg >/dev/null 2>&1 || die "GOTUNNEL_GPG_PUBKEY is set but gpg is not installed."
    [ -r "$GOTUNNEL_GPG_PUBKEY" ] || die "cannot read the gpg public key file $GOTUNNEL_GPG_PUBKEY"
    download "$(base_url)/checksums.txt.sig" "$TMP_DIR/checksums.txt.sig"
    # A throwaway keyring holding only the configured key: the user's own keyring is neither read nor changed.
    mkdir -m 700 "$TMP_DIR/gnupg"
    gpg --homedir "$TMP_DIR/gnupg" --batch --quiet --import "$GOTUNNEL_GPG_PUBKEY" >/dev/null 2>&1 ||
      die "cannot import the gpg public key $GOTUNNEL_GPG_PUBKEY"
    gpg --homedir "$TMP_DIR/gnupg" --batch --quiet --verify "$TMP_DIR/checksums.txt.sig" "$1" >/dev/null 2>&1 ||
      die "the gpg signature of checksums.txt does not verify. Nothing was installed."
    SIGNED_BY="${SIGNED_BY:+$SIGNED_BY, }gpg"
  fi
}

warn_if_plain_http() {
  case "${GOTUNNEL_DOWNLOAD_URL:-}" in
    http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\][:/]*) ;;
    http://*) warn "downloading over plain HTTP: checksums.txt comes over the same channel, so only a signature protects you" ;;
  esac
}

# --- install ----------------------------------------------------------------------------------------------------

resolve_install_dir() {
  if [ -n "$INSTALL_DIR" ]; then return 0; fi
  if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then INSTALL_DIR=/usr/local/bin; else INSTALL_DIR="$HOME/.local/bin"; fi
}

path_hint() { # dir
  case ":${PATH:-}:" in *":$1:"*) ;;
    *)
      say ""
      say "$1 is not on your PATH. Add it with:"
      case "$(basename "${SHELL:-sh}")" in
        bash) say "  echo 'export PATH=\"$1:\$PATH\"' >> ~/.bashrc && . ~/.bashrc" ;;
        zsh) say "  echo 'export PATH=\"$1:\$PATH\"' >> ~/.zshrc && . ~/.zshrc" ;;
        fish) say "  fish_add_path $1" ;;
        *) say "  echo 'export PATH=\"$1:\$PATH\"' >> ~/.profile   (then log in again)" ;;
      esac ;;
  esac
  found=$(command -v gotunnel 2>/dev/null || true)
  if [ -n "$found" ] && [ "$found" != "$1/gotunnel" ]; then
    warn "another gotunnel comes first on your PATH: $found"
  fi
}

do_install() {
  detect_target
  resolve_install_dir
  url=$(base_url)
  if [ "$ACTION" = dry-run ]; then
    say "platform: $TARGET"
    say "checksums: $url/checksums.txt"
    say "binary: $url/gotunnel-${VERSION:-<latest>}-$TARGET"
    say "install to: $INSTALL_DIR/gotunnel"
    return 0
  fi
  warn_if_plain_http
  TMP_DIR=$(mktemp -d 2>/dev/null || mktemp -d -t gotunnel)
  download "$url/checksums.txt" "$TMP_DIR/checksums.txt"
  SIGNED_BY=""
  verify_signature "$TMP_DIR/checksums.txt"

  entry=$(find_entry "$TMP_DIR/checksums.txt")
  [ "$entry" != DUPLICATE ] || die "checksums.txt lists more than one binary for $TARGET. Nothing was installed."
  [ -n "$entry" ] || die "checksums.txt has no entry for gotunnel${VERSION:+ $VERSION} on $TARGET. Nothing was installed." \
    "Pick a release that ships $TARGET: https://github.com/$REPO/releases"
  version=${entry% *}
  expected=${entry#* }
  file="gotunnel-$version-$TARGET"

  # From GitHub, fetch the binary by its version: "latest" could move to a newer release between the two downloads.
  [ -n "${GOTUNNEL_DOWNLOAD_URL:-}" ] || url="https://github.com/$REPO/releases/download/v$version"
  download "$url/$file" "$TMP_DIR/$file"
  actual=$(sha256_of "$TMP_DIR/$file" | tr 'A-F' 'a-f')
  [ "$actual" = "$expected" ] || die "SHA-256 mismatch for $file. Nothing was installed." \
    "expected $expected, got $actual: the download is corrupt or was tampered with."
  chmod 755 "$TMP_DIR/$file"
  # Run it before it replaces anything: a wrong libc, a missing libstdc++ (Alpine) or an old CPU shows up here.
  if ! "$TMP_DIR/$file" --version >/dev/null 2>&1; then
    hint="check that this machine matches $TARGET"
    [ "$TARGET" = linux-x64-musl ] && hint="on Alpine, install its C++ runtime first: apk add libstdc++ libgcc"
    die "the downloaded gotunnel $version does not run on this machine. Nothing was installed." "$hint"
  fi

  mkdir -p "$INSTALL_DIR" 2>/dev/null || die "cannot create $INSTALL_DIR" "Use --install-dir DIR, or run with sudo."
  [ -w "$INSTALL_DIR" ] || die "$INSTALL_DIR is not writable." "Use --install-dir ~/.local/bin, or run with sudo."
  dest="$INSTALL_DIR/gotunnel"
  previous=""
  [ -f "$dest" ] && previous=$("$dest" --version 2>/dev/null || echo "unknown version")
  # Stage next to the destination so the final mv is a rename within one filesystem: atomic, and a running
  # gotunnel keeps its old inode.
  STAGED="$INSTALL_DIR/.gotunnel.install.$$"
  cp "$TMP_DIR/$file" "$STAGED" || die "cannot write into $INSTALL_DIR"
  chmod 755 "$STAGED"
  mv -f "$STAGED" "$dest" || die "cannot replace $dest"
  STAGED=""

  say "gotunnel v$version ($TARGET) verified (sha256${SIGNED_BY:+, $SIGNED_BY}) → $dest"
  [ -n "$previous" ] && say "replaced the previous gotunnel ($previous)"
  path_hint "$INSTALL_DIR"
}

# --- uninstall --------------------------------------------------------------------------------------------------

data_dirs() {
  if [ -n "${GOTUNNEL_HOME:-}" ]; then printf '%s\n' "$GOTUNNEL_HOME"; return 0; fi
  if [ "$(uname_s)" = Darwin ]; then
    printf '%s\n' "$HOME/Library/Application Support/gotunnel"
  else
    printf '%s\n' "${XDG_DATA_HOME:-$HOME/.local/share}/gotunnel" "${XDG_STATE_HOME:-$HOME/.local/state}/gotunnel"
  fi
  printf '%s\n' "${XDG_CONFIG_HOME:-$HOME/.config}/gotunnel"
}

do_uninstall() {
  if [ -n "$INSTALL_DIR" ]; then candidates="$INSTALL_DIR/gotunnel"; else
    candidates=$(printf '%s\n%s' /usr/local/bin/gotunnel "$HOME/.local/bin/gotunnel")
  fi
  removed=0
  untrust=0
  # Here-documents, not pipes, feed these loops: the loop then runs in this shell and its variables survive.
  while IFS= read -r bin; do
    [ -f "$bin" ] || continue
    # Ask the binary before deleting it: only a gotunnel with `untrust` could have put its CA in a trust store.
    if NO_COLOR=1 "$bin" --help 2>/dev/null | grep -q untrust; then untrust=1; fi
    rm -f "$bin" || die "cannot remove $bin" "Run with sudo, or remove it by hand."
    say "removed $bin"
    removed=1
  done <<EOF
$candidates
EOF
  [ "$removed" = 1 ] || say "gotunnel is not installed in: $(printf '%s' "$candidates" | tr '\n' ' ')"
  left=$(command -v gotunnel 2>/dev/null || true)
  [ -z "$left" ] || warn "another gotunnel is still on your PATH: $left (installed by Homebrew, apt or by hand?)"

  say ""
  if [ "$untrust" = 1 ]; then
    say "If you ran 'gotunnel trust', this system still trusts gotunnel's CA. To remove it, reinstall,"
    say "run 'gotunnel untrust', then uninstall again: sh install.sh && gotunnel untrust && sh install.sh --uninstall"
  else
    say "This gotunnel never added its CA to a trust store; if you added rootCA.pem by hand, remove it there."
  fi
  found=0
  dirs=$(data_dirs)
  while IFS= read -r dir; do
    [ -d "$dir" ] || continue
    [ "$found" = 1 ] || say "gotunnel's data (CA key, certificates, config) is kept. To delete it:"
    say "  rm -rf \"$dir\""
    found=1
  done <<EOF
$dirs
EOF
  [ "$found" = 1 ] || say "No gotunnel data directories were found."
}

main() {
  parse_args "$@"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  case "$ACTION" in
    uninstall) do_uninstall ;;
    *) do_install ;;
  esac
}

main "$@"
