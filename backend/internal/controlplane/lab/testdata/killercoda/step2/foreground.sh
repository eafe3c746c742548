#!/bin/bash
cd ~/project || exit
