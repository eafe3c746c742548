#!/bin/bash
test -d ~/project/.git
