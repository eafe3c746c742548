#!/usr/bin/env bash
# Build, push and deploy ClaraTeach's two Cloud Run services (backend API and
# frontend nginx) with the operations guide's flags and secrets mapping.
# Needs a Google Cloud account; --dry-run prints the commands instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

usage() {
    cat <<'USAGE'
Usage: scripts/deploy-cloud-run.sh [options]

Builds the backend and frontend images for linux/amd64, pushes them to
Artifact Registry and deploys the Cloud Run services clarateach-backend and
clarateach-frontend. The frontend's nginx proxies /api/ to the backend
service's URL (looked up after the backend deploy, passed as BACKEND_URL).

Options (environment variable in brackets):
  --project ID        GCP project [GCP_PROJECT, default clarateach]; also the
                      gcloud project for these commands (CLOUDSDK_CORE_PROJECT)
  --region REGION     Cloud Run and registry region [REGION, default us-central1]
  --zone ZONE         zone for workshop VMs [GCP_ZONE, default us-central1-b]
  --registry PATH     image registry [GCP_REGISTRY, default
                      REGION-docker.pkg.dev/PROJECT/clarateach]
  --snapshot NAME     agent VM snapshot [FC_SNAPSHOT_NAME, required for the
                      backend; scripts/create-agent-snapshot.sh prints it]
  --tag TAG           image tag [TAG, default latest]
  --only WHICH        backend | frontend (default: both)
  --skip-build        deploy the images already in the registry
  --env KEY=VALUE     extra backend env var (repeatable), e.g. GCP_USE_SPOT=true
  --min-instances N   keep N backend instances warm (the reconciler runs in
                      the server; see docs/CLOUD_RUN_DEPLOYMENT.md)
  --dry-run           print the commands, run nothing
  -h, --help          this help

Secrets come from Secret Manager (create them first, see the guide):
DATABASE_URL, FC_AGENT_TOKEN, WORKSPACE_TOKEN_SECRET, JWT_SECRET.
USAGE
}

PROJECT=${GCP_PROJECT:-clarateach}
REGION=${REGION:-us-central1}
ZONE=${GCP_ZONE:-us-central1-b}
REGISTRY=${GCP_REGISTRY:-}
SNAPSHOT=${FC_SNAPSHOT_NAME:-}
TAG=${TAG:-latest}
ONLY=both
SKIP_BUILD=0
MIN_INSTANCES=
EXTRA_ENV=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --project) require_value "$1" "${2-}"; PROJECT=$2; shift 2 ;;
        --region) require_value "$1" "${2-}"; REGION=$2; shift 2 ;;
        --zone) require_value "$1" "${2-}"; ZONE=$2; shift 2 ;;
        --registry) require_value "$1" "${2-}"; REGISTRY=$2; shift 2 ;;
        --snapshot) require_value "$1" "${2-}"; SNAPSHOT=$2; shift 2 ;;
        --tag) require_value "$1" "${2-}"; TAG=$2; shift 2 ;;
        --only) require_value "$1" "${2-}"; ONLY=$2; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --env) require_value "$1" "${2-}"; EXTRA_ENV+=("$2"); shift 2 ;;
        --min-instances) require_value "$1" "${2-}"; MIN_INSTANCES=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

case "$ONLY" in backend | frontend | both) ;; *) die "--only must be backend or frontend, not '$ONLY'" ;; esac
[[ -n $REGISTRY ]] || REGISTRY="${REGION}-docker.pkg.dev/${PROJECT}/clarateach"
for kv in "${EXTRA_ENV[@]}"; do
    [[ $kv =~ ^[A-Z_][A-Z0-9_]*=[^,]*$ ]] || die "--env wants KEY=VALUE without commas, got '$kv'"
done
[[ -z $MIN_INSTANCES || $MIN_INSTANCES =~ ^[0-9]+$ ]] || die "--min-instances wants a number, got '$MIN_INSTANCES'"
if [[ $ONLY != frontend && -z $SNAPSHOT ]]; then
    die "FC_SNAPSHOT_NAME is not set: pass --snapshot NAME (scripts/create-agent-snapshot.sh prints it)"
fi

# gcloud takes its project from this variable; the deploy commands below keep
# exactly the guide's flags.
export CLOUDSDK_CORE_PROJECT=$PROJECT
if [[ $DRY_RUN == 1 ]]; then
    echo "# dry run: commands for project $PROJECT (exported as CLOUDSDK_CORE_PROJECT)"
else
    need_cmd gcloud
    [[ $SKIP_BUILD == 1 ]] || need_cmd docker
fi

BACKEND_IMAGE="$REGISTRY/backend:$TAG"
FRONTEND_IMAGE="$REGISTRY/frontend:$TAG"

build_and_push() { # dir image
    if [[ $SKIP_BUILD == 1 ]]; then
        return 0
    fi
    run cd "$repo/$1"
    run docker build --platform linux/amd64 -t "$2" .
    run docker push "$2"
    run cd "$repo"
}

deploy_backend() {
    local env_vars="GCP_PROJECT=$PROJECT,GCP_ZONE=$ZONE,FC_SNAPSHOT_NAME=$SNAPSHOT"
    local kv
    for kv in "${EXTRA_ENV[@]}"; do
        env_vars+=",$kv"
    done
    local args=(
        gcloud run deploy clarateach-backend
        "--image=$BACKEND_IMAGE"
        "--region=$REGION"
        --allow-unauthenticated
        --port=8080
        --memory=512Mi
        "--set-env-vars=$env_vars"
        "--set-secrets=DATABASE_URL=DATABASE_URL:latest,FC_AGENT_TOKEN=FC_AGENT_TOKEN:latest,WORKSPACE_TOKEN_SECRET=WORKSPACE_TOKEN_SECRET:latest,JWT_SECRET=JWT_SECRET:latest"
    )
    [[ -z $MIN_INSTANCES ]] || args+=("--min-instances=$MIN_INSTANCES")
    build_and_push backend "$BACKEND_IMAGE"
    run "${args[@]}"
}

deploy_frontend() {
    build_and_push frontend "$FRONTEND_IMAGE"
    local url args
    if [[ $DRY_RUN == 1 ]]; then
        # A copy-pastable pair: look the URL up, then use it.
        printf "BACKEND_URL=\$(gcloud run services describe clarateach-backend --region=%s --format='value(status.url)')\n" "$REGION"
        url=BACKEND_URL_PLACEHOLDER
    else
        url=$(gcloud run services describe clarateach-backend "--region=$REGION" "--format=value(status.url)") ||
            die "could not read the URL of clarateach-backend (deploy the backend first)"
        [[ -n $url ]] || die "clarateach-backend has no URL yet (deploy the backend first)"
    fi
    args=(
        gcloud run deploy clarateach-frontend
        "--image=$FRONTEND_IMAGE"
        "--region=$REGION"
        --allow-unauthenticated
        --port=8080
        --memory=256Mi
        "--set-env-vars=BACKEND_URL=$url"
    )
    if [[ $DRY_RUN == 1 ]]; then
        # shellcheck disable=SC2016 # a literal $BACKEND_URL for the printed line
        print_cmd "${args[@]}" | sed 's/BACKEND_URL_PLACEHOLDER/"$BACKEND_URL"/'
        return 0
    fi
    run "${args[@]}"
}

[[ $ONLY == frontend ]] || deploy_backend
[[ $ONLY == backend ]] || deploy_frontend

if [[ $DRY_RUN != 1 && $ONLY != backend ]]; then
    log "frontend: $(gcloud run services describe clarateach-frontend "--region=$REGION" "--format=value(status.url)")"
fi
