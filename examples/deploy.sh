#!/bin/sh
# A toy deploy with the three kinds of circular dependency, for `make demo`. Every name it needs
# is blocked, so it runs the same on a machine with no network at all.
here=$(dirname "$0")
echo "deploy: downloading the release (a direct dependency)"
curl -fsS -m 5 -o /dev/null https://github.com/acme/app/releases/download/v1/app.tar.gz ||
	echo "deploy: release download failed"
echo "deploy: running a tool that checks for updates (a hidden dependency)"
curl -fsS -m 5 -o /dev/null -K "$here/update-check.curlrc" ||
	echo "deploy: the tool's update check failed"
echo "deploy: asking the internal deploy API (a transient dependency)"
getent hosts deploy-api.internal.example || echo "deploy: the internal API is out of reach"
echo "deploy: done"
