#!/bin/sh
apt-get install -y tree >/dev/null 2>&1 || true
