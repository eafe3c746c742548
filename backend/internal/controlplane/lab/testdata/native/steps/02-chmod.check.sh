#!/bin/sh
test -x ~/hello.sh || { echo "hello.sh is not executable"; exit 1; }
