#!/usr/bin/env bash
# Build kube-apiserver and etcd from the Go module proxy, once per version, into a cache outside
# the repo: ${CANCELBUS_CACHE_DIR:-~/.cache/cancelbus}/kube/<version>/bin/{kube-apiserver,etcd}.
# A second run with the binaries cached returns at once (a marker is written only on success).
#
#   scripts/build-kube.sh [KUBERNETES_VERSION] [ETCD_VERSION]
#
# k8s.io/kubernetes cannot be built with `go install` (its go.mod points the staging modules at
# ./staging), so a wrapper module requires it and replaces each staging module k8s.io/<name> with
# the published k8s.io/<name> v0.<minor>.<patch>; the list comes from the downloaded go.mod.
# GOPATH, GOMODCACHE and GOCACHE live under the cache too, so CI on the same machine reuses them.
# Prints the bin directory as its last line.
set -euo pipefail

kube_version=${1:-${CANCELBUS_KUBE_VERSION:-v1.36.3}}
etcd_version=${2:-${CANCELBUS_ETCD_VERSION:-v3.6.13}}
cache_root=${CANCELBUS_CACHE_DIR:-$HOME/.cache/cancelbus}
home=$cache_root/kube/$kube_version
bin=$home/bin
marker=$home/.built-etcd-$etcd_version

say() { echo "build-kube: $*" >&2; }

if [[ -f $marker && -x $bin/kube-apiserver && -x $bin/etcd ]]; then
    say "cached: kube-apiserver $kube_version and etcd $etcd_version in $bin"
    echo "$bin"
    exit 0
fi

command -v go >/dev/null || { say "go is not installed (needed to build kube-apiserver)"; exit 1; }
say "building kube-apiserver $kube_version and etcd $etcd_version with $(go version)"
say "(a cold build downloads ~1 GB of modules and takes tens of minutes on 2 cores)"

gohome=$cache_root/kube/go
export GOPATH=$gohome/path GOMODCACHE=$gohome/mod GOCACHE=$gohome/build
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=mod -modcacherw" GO111MODULE=on
mkdir -p "$bin" "$GOPATH" "$GOMODCACHE" "$GOCACHE"
work=$home/work
started=$SECONDS

build_kube_apiserver() {
    local mod gomod minor_patch wrapper=$work/kube-apiserver
    say "downloading k8s.io/kubernetes@$kube_version"
    mod=$(go mod download -json "k8s.io/kubernetes@$kube_version")
    gomod=$(printf '%s\n' "$mod" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
    [[ -f $gomod ]] || { say "no go.mod for k8s.io/kubernetes@$kube_version: $mod"; exit 1; }
    local need_go
    need_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")
    say "k8s.io/kubernetes@$kube_version needs go $need_go"
    minor_patch=${kube_version#v1.}
    rm -rf "$wrapper"
    mkdir -p "$wrapper"
    {
        echo "module cancelbus.local/kube-apiserver"
        echo
        echo "go $need_go"
        echo
        echo "require k8s.io/kubernetes $kube_version"
        echo
        # every `k8s.io/<name> => ./staging/src/k8s.io/<name>` becomes the published v0.<minor>.<patch>
        sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*$#replace \1 => \1 v0.'"$minor_patch"'#p' "$gomod"
    } >"$wrapper/go.mod"
    say "wrapper module with $(grep -c '^replace' "$wrapper/go.mod") staging replacements"
    echo 'package tools' >"$wrapper/tools.go"
    (
        cd "$wrapper"
        say "resolving modules"
        go get "k8s.io/kubernetes/cmd/kube-apiserver@$kube_version"
        say "compiling kube-apiserver (the long part)"
        go build -trimpath -o "$bin/kube-apiserver.tmp" \
            -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$kube_version" \
            k8s.io/kubernetes/cmd/kube-apiserver
    )
    mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
    say "kube-apiserver built after $((SECONDS - started)) s"
}

build_etcd() {
    local wrapper=$work/etcd
    rm -rf "$wrapper"
    mkdir -p "$wrapper"
    printf 'module cancelbus.local/etcd\n\ngo 1.24\n' >"$wrapper/go.mod"
    (
        cd "$wrapper"
        say "resolving go.etcd.io/etcd/server/v3@$etcd_version"
        go get "go.etcd.io/etcd/server/v3@$etcd_version"
        say "compiling etcd"
        go build -trimpath -o "$bin/etcd.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3
    )
    mv "$bin/etcd.tmp" "$bin/etcd"
    say "etcd built after $((SECONDS - started)) s"
}

[[ -x $bin/etcd && -f $home/.etcd-$etcd_version ]] || { build_etcd; touch "$home/.etcd-$etcd_version"; }
[[ -x $bin/kube-apiserver && -f $home/.kube-apiserver ]] || { build_kube_apiserver; touch "$home/.kube-apiserver"; }
"$bin/kube-apiserver" --version >&2
"$bin/etcd" --version >&2
rm -rf "$work"
touch "$marker"
say "done in $((SECONDS - started)) s: $bin"
echo "$bin"
