#!/bin/sh
test -f ~/hello.sh || { echo "hello.sh is not in your home yet"; exit 1; }
echo "found hello.sh"
