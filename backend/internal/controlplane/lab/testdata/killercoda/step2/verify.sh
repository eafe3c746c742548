#!/bin/bash
cd ~/project && git log --oneline | grep -q .
