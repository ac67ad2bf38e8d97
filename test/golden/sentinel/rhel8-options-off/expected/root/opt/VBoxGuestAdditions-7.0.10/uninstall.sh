#!/bin/sh
# VirtualBox Guest Additions uninstaller (golden fixture placeholder)
exit 0
