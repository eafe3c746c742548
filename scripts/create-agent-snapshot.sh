#!/usr/bin/env bash
# Snapshot the workshop-host base VM: stop it, snapshot its disk as
# clarateach-snapshot-YYYYMMDD-HHMMSS, start it again, print the new
# FC_SNAPSHOT_NAME. Needs a Google Cloud account; --dry-run prints the commands.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

usage() {
    cat <<'USAGE'
Usage: scripts/create-agent-snapshot.sh --vm NAME [options]

Stops the base VM (the workshop host set up with scripts/setup-agent-host.sh),
snapshots its disk, starts the VM again (also when the snapshot fails) and
prints the line

  FC_SNAPSHOT_NAME=clarateach-snapshot-YYYYMMDD-HHMMSS

to standard output. Deploy it with
scripts/deploy-cloud-run.sh --snapshot NAME, or put it in .env.

Options (environment variable in brackets):
  --vm NAME       base VM [BASE_VM, required]
  --zone ZONE     its zone [GCP_ZONE, default us-central1-b]
  --disk NAME     disk to snapshot [default: the VM's name, GCE's boot disk name]
  --project ID    GCP project [GCP_PROJECT, default: gcloud's configured project]
  --name NAME     snapshot name [default clarateach-snapshot-$(date +%Y%m%d-%H%M%S)]
  --no-restart    leave the VM stopped afterwards
  --dry-run       print the commands, run nothing
  -h, --help      this help

The snapshot is labelled clarateach=agent-image, which
`clarateach snapshots prune --keep N` uses to find old ones.
USAGE
}

VM=${BASE_VM:-}
ZONE=${GCP_ZONE:-us-central1-b}
DISK=
NAME=
RESTART=1
if [[ -n ${GCP_PROJECT:-} ]]; then
    export CLOUDSDK_CORE_PROJECT=$GCP_PROJECT
fi

while [[ $# -gt 0 ]]; do
    case "$1" in
        --vm) require_value "$1" "${2-}"; VM=$2; shift 2 ;;
        --zone) require_value "$1" "${2-}"; ZONE=$2; shift 2 ;;
        --disk) require_value "$1" "${2-}"; DISK=$2; shift 2 ;;
        --project) require_value "$1" "${2-}"; export CLOUDSDK_CORE_PROJECT=$2; shift 2 ;;
        --name) require_value "$1" "${2-}"; NAME=$2; shift 2 ;;
        --no-restart) RESTART=0; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[[ -n $VM ]] || die "which VM? pass --vm NAME (or set BASE_VM)"
[[ -n $DISK ]] || DISK=$VM
[[ -n $NAME ]] || NAME="clarateach-snapshot-$(date +%Y%m%d-%H%M%S)"
# GCE resource names: lowercase letter first, then [-a-z0-9], at most 63.
[[ $NAME =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "invalid snapshot name '$NAME' (lowercase letters, digits, dashes; at most 63)"
[[ $DRY_RUN == 1 ]] || need_cmd gcloud

stopped=0
restart_vm() {
    if [[ $stopped == 1 && $RESTART == 1 ]]; then
        stopped=0
        log "starting $VM again"
        run gcloud compute instances start "$VM" "--zone=$ZONE" ||
            warn "could not start $VM; start it with: gcloud compute instances start $VM --zone=$ZONE"
    fi
}
# Whatever happens after the stop, do not leave the base VM down.
trap restart_vm EXIT

log "stopping $VM (zone $ZONE) for a consistent disk"
run gcloud compute instances stop "$VM" "--zone=$ZONE"
stopped=1

log "snapshotting disk $DISK as $NAME"
run gcloud compute snapshots create "$NAME" \
    "--source-disk=$DISK" \
    "--source-disk-zone=$ZONE" \
    --labels=clarateach=agent-image \
    "--description=ClaraTeach workshop host image from $VM"

restart_vm
trap - EXIT
echo "FC_SNAPSHOT_NAME=$NAME"
