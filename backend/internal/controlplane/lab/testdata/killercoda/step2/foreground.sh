#!/bin/bash
cd ~/project
