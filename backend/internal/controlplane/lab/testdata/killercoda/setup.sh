#!/bin/bash
apt-get install -y git
