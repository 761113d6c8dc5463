#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo: migrate a running 1 GiB guest between two kvmig processes.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: the live-migration demo arrives with the precopy migration work (issue 4)."
exit 0
