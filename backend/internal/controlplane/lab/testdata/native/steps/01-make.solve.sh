#!/bin/sh
touch ~/hello.sh
