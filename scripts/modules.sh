#!/usr/bin/env bash
# Each module of the workspace (go.work) on its own: its go.mod and go.sum
# are tidy without the workspace (GOWORK=off go mod tidy -diff), so that a
# user who requires the module gets exactly what it needs; and go.work lists
# every go.mod of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
status=0
# Every go.mod in the repository is in go.work, or make test would skip it.
in_work=$($GO list -m -f '{{.Dir}}' | sed "s|^$PWD|.|; s|^\.$|.|" | sort)
in_repo=$(git ls-files '*go.mod' | grep -v testdata | xargs -n1 dirname | sed 's|^\([^.]\)|./\1|' | sort)
if [ "$in_work" != "$in_repo" ]; then
	echo "modules: go.work lists $(echo $in_work), the repository has go.mod in $(echo $in_repo): go work use the missing ones" >&2
	status=1
fi
for dir in $($GO list -m -f '{{.Dir}}'); do
	if ! out=$(cd "$dir" && GOWORK=off $GO mod tidy -diff 2>&1); then
		echo "modules: ${dir#$PWD/}: go.mod is not tidy on its own (cd ${dir#$PWD/} && GOWORK=off go mod tidy):" >&2
		echo "$out" >&2
		status=1
	fi
done
exit $status
