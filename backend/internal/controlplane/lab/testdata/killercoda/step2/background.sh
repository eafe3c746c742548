#!/bin/bash
git config --global user.name learner
