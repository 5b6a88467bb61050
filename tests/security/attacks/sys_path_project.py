# attack: add the project to sys.path and import the memory package to reach the database
# expect: error
import sys
sys.path.insert(0, "@PROJECT@")
import memory.db
