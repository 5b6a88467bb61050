# attack: add the project to sys.path and import the memory package to reach the database
# ruff: noqa - hostile programs kept as written
# expect: error
import sys
sys.path.insert(0, "@PROJECT@")
import memory.db
