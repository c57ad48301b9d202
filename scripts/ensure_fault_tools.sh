# shellcheck shell=bash
# Sourced by .ci/run: the fault tests (store_app/tests/faults_test.rs) cut a
# network between two nodes (network namespaces and veth pairs: `ip`, from
# iproute2) and put the store's data on small disks that fill up or turn
# read-only (tmpfs, and an ext4 image: mkfs.ext4 and e2fsck from e2fsprogs,
# a loop device). They need root. As root with apt-get, installs the tools
# when missing; then marks the tests as required, so that they fail instead
# of skipping.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
if [[ ${#missing[@]} -gt 0 ]]; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== installing ${missing[*]} (apt-get)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "the fault tests need ${missing[*]} and root; install them and run again" >&2
    exit 1
  fi
fi
export FAULT_TESTS=required
