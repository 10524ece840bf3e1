#!/bin/sh
# Builds the BPF programs of this directory into libbpf skeleton headers, and puts the loader
# glue next to them. Run by the KubeHeroBPFSkeletons build plugin during `swift build`
# (Plugins/KubeHeroBPFSkeletons); runs by hand too:
#
#   agent/bpf/build-skeletons.sh OUT_DIR LOADER_C [CLANG]
#
# writes OUT_DIR/include/{vmlinux.h,kubehero_bpf_maps.h,kh_cpu.skel.h,kh_net.skel.h} and
# OUT_DIR/kubehero_bpf_loader.c. Needs clang with the BPF target (the Swift toolchain's has it)
# and bpftool (Debian: apt-get install bpftool libbpf-dev libelf-dev). See agent/bpf/README.md.
set -eu

out=${1:?usage: build-skeletons.sh OUT_DIR LOADER_C [CLANG]}
loader=${2:?usage: build-skeletons.sh OUT_DIR LOADER_C [CLANG]}
clang=${3:-${CLANG:-clang}}
here=$(cd "$(dirname "$0")" && pwd)
PATH="$PATH:/usr/sbin:/sbin"

command -v "$clang" >/dev/null 2>&1 || { echo "error: agent/bpf: no clang ($clang); the Swift toolchain's clang builds -target bpf" >&2; exit 1; }
command -v bpftool >/dev/null 2>&1 || { echo "error: agent/bpf: bpftool not found; install it: apt-get install bpftool libbpf-dev libelf-dev" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "error: agent/bpf: libbpf headers not found (/usr/include/bpf); install libbpf-dev" >&2; exit 1; }

mkdir -p "$out/include" "$out/obj"

# vmlinux.h: the kernel's types for CO-RE, dumped from BTF. KUBEHERO_VMLINUX_BTF names another
# BTF file (for building on a machine without /sys/kernel/btf/vmlinux); the result runs on any
# BTF kernel either way, since CO-RE relocates field offsets at load time.
btf=${KUBEHERO_VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "error: agent/bpf: no kernel BTF at $btf to generate vmlinux.h from; set KUBEHERO_VMLINUX_BTF to a vmlinux BTF file (see agent/bpf/README.md)" >&2; exit 1; }
bpftool btf dump file "$btf" format c > "$out/include/vmlinux.h.tmp"
mv "$out/include/vmlinux.h.tmp" "$out/include/vmlinux.h"

arch=$(uname -m)
case "$arch" in
  x86_64) target_arch=x86 ;;
  aarch64) target_arch=arm64 ;;
  *) target_arch=$arch ;;
esac

cp "$here/kubehero_bpf_maps.h" "$out/include/kubehero_bpf_maps.h"
for program in cpu net; do
  "$clang" -g -O2 -target bpf -D__TARGET_ARCH_$target_arch -Wall -Werror \
    -I "$out/include" -I "$here" -c "$here/$program.bpf.c" -o "$out/obj/$program.bpf.o"
  # `gen object` links and strips DWARF (the skeleton embeds the object: 30 KiB, not 600).
  bpftool gen object "$out/obj/$program.lnk.o" "$out/obj/$program.bpf.o"
  bpftool gen skeleton "$out/obj/$program.lnk.o" name "kh_$program" > "$out/include/kh_$program.skel.h.tmp"
  mv "$out/include/kh_$program.skel.h.tmp" "$out/include/kh_$program.skel.h"
done

{ printf '#line 1 "%s"\n' "$loader"; cat "$loader"; } > "$out/kubehero_bpf_loader.c.tmp"
mv "$out/kubehero_bpf_loader.c.tmp" "$out/kubehero_bpf_loader.c"
