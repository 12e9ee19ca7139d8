#!/bin/sh
# SPDX-License-Identifier: MIT
# Tears the demo down: same as `scripts/demo.sh down`.
exec "$(dirname "$0")/demo.sh" down
