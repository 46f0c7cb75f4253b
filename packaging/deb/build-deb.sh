#!/bin/sh
# Wraps one prebuilt gotunnel binary in a Debian package: gotunnel_<version>_<arch>.deb with /usr/bin/gotunnel.
#
#   packaging/deb/build-deb.sh BINARY VERSION ARCH [OUT_DIR]     ARCH: amd64 | arm64; OUT_DIR defaults to .
#
# Needs only dpkg-deb (package dpkg), so it runs on any Debian or Ubuntu host, including CI, for either ARCH: nothing
# is compiled. GOTUNNEL_DEB_COMPRESSION (default xz, the one every dpkg reads) can be set to gzip for quicker tests.
set -eu

die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: build-deb.sh BINARY VERSION ARCH [OUT_DIR]"
binary=$1
version=${2#v}
arch=$3
out_dir=${4:-.}
[ -f "$binary" ] || die "no such binary: $binary"
case "$arch" in amd64 | arm64) ;; *) die "ARCH must be amd64 or arm64, not $arch" ;; esac
case "$version" in [0-9]*.[0-9]*.[0-9]*) ;; *) die "VERSION must look like 1.2.3 or 1.2.3-rc.1, not $version" ;; esac
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"

# Debian sorts "~" before everything, so 1.2.3~rc.1 < 1.2.3 as SemVer intends; a "-" would mean a Debian revision.
deb_version=$(printf '%s' "$version" | sed 's/-/~/')

# The oldest glibc the binary links against, read from its symbol versions; 2.17 is what Bun 1.4.5 needs.
glibc=2.17
if command -v objdump >/dev/null 2>&1; then
  found=$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -t . -k1,1n -k2,2n | tail -n 1)
  [ -n "$found" ] && glibc=$found
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/doc/gotunnel"
cp "$binary" "$root/usr/bin/gotunnel"
chmod 0755 "$root/usr/bin/gotunnel"
installed_kib=$(du -k -s "$root/usr" | cut -f 1)

cat >"$root/DEBIAN/control" <<EOF
Package: gotunnel
Version: $deb_version
Architecture: $arch
Maintainer: gotunnel maintainers <maintainers@gotunnel.invalid>
Installed-Size: $installed_kib
Depends: libc6 (>= $glibc)
Section: net
Priority: optional
Homepage: https://github.com/${GOTUNNEL_REPO:-gotunnel/gotunnel}
Description: stable, trusted HTTPS names for local dev servers
 gotunnel gives every local dev server a trusted HTTPS name, such as
 https://myapp.local for localhost:3000, from one self-contained binary with
 its own local certificate authority.
EOF

cat >"$root/usr/share/doc/gotunnel/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gotunnel
Source: https://github.com/${GOTUNNEL_REPO:-gotunnel/gotunnel}

Files: *
License: MIT
EOF

mkdir -p "$out_dir"
# The file name keeps the SemVer version: GitHub renames release assets containing "~", which would break
# checksums.txt. dpkg only reads the Version field inside.
deb="$out_dir/gotunnel_${version}_${arch}.deb"
# --root-owner-group: files belong to root in the package whoever builds it (no fakeroot needed).
dpkg-deb --root-owner-group -Z"${GOTUNNEL_DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
printf '%s\n' "$deb"
